-- cardhub chip work, SQLite flavour. Keep in step with
-- migrations/postgres/2026-11-22-000000_chip/up.sql and src/schema.rs.

-- The chip bound to a card at personalisation: what was written to it
-- besides the holder's data (which is read from persons and cards).
CREATE TABLE card_chips (
    card_id BIGINT PRIMARY KEY NOT NULL REFERENCES cards (id),
    chip_id TEXT NOT NULL UNIQUE,
    algorithm TEXT NOT NULL CHECK (algorithm IN ('sm4', '3des')),
    card_type TEXT NOT NULL,
    spec_version TEXT NOT NULL,
    institution TEXT NOT NULL,
    issued_on DATE NOT NULL,
    expires_on DATE NOT NULL,
    chip_name TEXT NOT NULL,
    substitutions TEXT NOT NULL,
    personalised_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- One personalisation, card check or PIN operation on a chip in a reader.
CREATE TABLE chip_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('personalise', 'check', 'pin-change', 'pin-reset', 'pin-unblock')),
    card_id BIGINT REFERENCES cards (id),
    chip_id TEXT,
    reader TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'interrupted', 'done', 'failed')),
    phase TEXT NOT NULL,
    apdus INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 1,
    result TEXT,
    error TEXT,
    actor TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP
);
CREATE INDEX chip_jobs_card ON chip_jobs (card_id, id);
CREATE INDEX chip_jobs_chip_status ON chip_jobs (chip_id, status);
CREATE INDEX chip_jobs_status ON chip_jobs (status);
