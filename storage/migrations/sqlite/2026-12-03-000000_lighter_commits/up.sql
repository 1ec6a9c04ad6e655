-- Fewer pages in every audited commit, SQLite flavour. Keep in step with
-- migrations/postgres/2026-12-03-000000_lighter_commits/up.sql and
-- src/schema.rs.
--
-- Every state change appends to the audit log in its own transaction.
-- Declared `BIGINT PRIMARY KEY`, `audit_log.seq` was a separate unique
-- index beside the table (SQLite makes only `INTEGER PRIMARY KEY` the
-- rowid), so every append wrote two b-trees. As `INTEGER PRIMARY KEY` the
-- sequence number is the rowid itself, still 64-bit and still assigned by
-- the chain, never by SQLite; the table is rebuilt once. Nothing refers to
-- audit_log by foreign key.
--
-- A chip job's start and end changed two indexes on `chip_jobs` that both
-- hold its status, `(chip_id, status)` and `(status)`. One on
-- `(status, chip_id)` serves both lookups (running jobs at start-up; the
-- interrupted personalisation of a chip).

CREATE TABLE audit_log_rebuilt (
    seq INTEGER PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
);
INSERT INTO audit_log_rebuilt (seq, at, actor, role, action, subject, detail, prev_hash, hash)
SELECT seq, at, actor, role, action, subject, detail, prev_hash, hash FROM audit_log ORDER BY seq;
DROP TABLE audit_log;
ALTER TABLE audit_log_rebuilt RENAME TO audit_log;

DROP INDEX chip_jobs_chip_status;
DROP INDEX chip_jobs_status;
CREATE INDEX chip_jobs_status_chip ON chip_jobs (status, chip_id);
