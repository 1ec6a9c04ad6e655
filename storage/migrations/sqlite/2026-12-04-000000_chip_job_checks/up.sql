-- A chip job's CHECK constraints as comparisons, SQLite only (PostgreSQL
-- checks a list without building anything). Keep in step with
-- migrations/sqlite/2026-11-22-000000_chip/up.sql (the values) and
-- src/chips/jobs.rs (the names the hub writes).
--
-- SQLite checks `x IN ('a', 'b', 'c', ...)` of more than two values by
-- building a temporary b-tree of the list, every time the column is
-- written: each job's start built two (kind, status) and each end one,
-- most of a small statement's cost. The same rule as comparisons joined
-- by OR is checked in place. The table is rebuilt once (nothing refers to
-- chip_jobs by foreign key); ids and the AUTOINCREMENT sequence carry on.

CREATE TABLE chip_jobs_rebuilt (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind = 'personalise' OR kind = 'check' OR kind = 'pin-change' OR kind = 'pin-reset' OR kind = 'pin-unblock'),
    card_id BIGINT REFERENCES cards (id),
    chip_id TEXT,
    reader TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status = 'running' OR status = 'interrupted' OR status = 'done' OR status = 'failed'),
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
INSERT INTO chip_jobs_rebuilt (id, kind, card_id, chip_id, reader, status, phase, apdus, attempts, result, error, actor, created_at, updated_at, finished_at)
SELECT id, kind, card_id, chip_id, reader, status, phase, apdus, attempts, result, error, actor, created_at, updated_at, finished_at FROM chip_jobs ORDER BY id;
-- The next job's id carries on from the last one ever given.
UPDATE sqlite_sequence SET seq = (SELECT seq FROM sqlite_sequence WHERE name = 'chip_jobs')
WHERE name = 'chip_jobs_rebuilt' AND EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'chip_jobs');
DROP TABLE chip_jobs;
ALTER TABLE chip_jobs_rebuilt RENAME TO chip_jobs;
CREATE INDEX chip_jobs_card ON chip_jobs (card_id, id);
CREATE INDEX chip_jobs_status_chip ON chip_jobs (status, chip_id);
