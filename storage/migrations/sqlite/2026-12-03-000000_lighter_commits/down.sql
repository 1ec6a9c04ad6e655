-- Back to the audit log's separate sequence index and the two status
-- indexes on chip_jobs.

CREATE TABLE audit_log_rebuilt (
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
INSERT INTO audit_log_rebuilt (seq, at, actor, role, action, subject, detail, prev_hash, hash)
SELECT seq, at, actor, role, action, subject, detail, prev_hash, hash FROM audit_log ORDER BY seq;
DROP TABLE audit_log;
ALTER TABLE audit_log_rebuilt RENAME TO audit_log;

DROP INDEX chip_jobs_status_chip;
CREATE INDEX chip_jobs_chip_status ON chip_jobs (chip_id, status);
CREATE INDEX chip_jobs_status ON chip_jobs (status);
