-- cardhub core schema, SQLite flavour. Keep in step with
-- migrations/postgres/2025-01-01-000000_core/up.sql and src/schema.rs.
-- Ids are INTEGER PRIMARY KEY AUTOINCREMENT (64-bit rowids, never reused);
-- times are UTC `YYYY-MM-DD HH:MM:SS.ffffff` text; encrypted columns and
-- blind indexes are BLOBs; JSON is TEXT.

CREATE TABLE branches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('community', 'bank', 'centre')),
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE persons (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_type TEXT NOT NULL,
    document_number_enc BLOB NOT NULL,
    document_number_idx BLOB NOT NULL,
    name TEXT NOT NULL,
    english_name TEXT,
    permit_chinese_name TEXT,
    nationality INTEGER NOT NULL,
    sex INTEGER NOT NULL,
    ethnicity INTEGER,
    birth_date DATE NOT NULL,
    phone_enc BLOB,
    phone_idx BLOB,
    address_enc BLOB,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
-- A document number identifies one person whatever the document type.
CREATE UNIQUE INDEX persons_document_number_idx ON persons (document_number_idx);
CREATE INDEX persons_phone_idx ON persons (phone_idx);

CREATE TABLE applications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    person_id BIGINT NOT NULL REFERENCES persons (id),
    kind TEXT NOT NULL,
    branch_id BIGINT REFERENCES branches (id),
    status TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX applications_person ON applications (person_id);

CREATE TABLE cards (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    person_id BIGINT NOT NULL REFERENCES persons (id),
    application_id BIGINT NOT NULL UNIQUE REFERENCES applications (id),
    card_number TEXT UNIQUE,
    status TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX cards_person ON cards (person_id);
CREATE INDEX cards_status ON cards (status);

CREATE TABLE card_status_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    card_id BIGINT NOT NULL REFERENCES cards (id),
    from_status TEXT,
    to_status TEXT NOT NULL,
    action TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    reason TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX card_status_history_card ON card_status_history (card_id, id);

CREATE TABLE operators (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    branch_id BIGINT REFERENCES branches (id),
    password_hash TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT 1,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until TIMESTAMP,
    last_login_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE operator_sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_digest BLOB NOT NULL UNIQUE,
    operator_id BIGINT NOT NULL REFERENCES operators (id),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX operator_sessions_operator ON operator_sessions (operator_id);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    digest BLOB NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    revoked_at TIMESTAMP
);

CREATE TABLE devices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    name TEXT NOT NULL UNIQUE,
    location TEXT,
    config TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
);

-- One row: the last sequence number and hash of the chain. A verifier
-- compares it with the log's last row, which catches a deleted tail.
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    last_seq BIGINT NOT NULL,
    last_hash BLOB NOT NULL
);
INSERT INTO audit_head (id, last_seq, last_hash)
VALUES (1, 0, X'0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    ordering_key TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX outbox_pending ON outbox (delivered_at, id);
