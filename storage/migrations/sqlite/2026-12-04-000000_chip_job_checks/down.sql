-- Back to the chip job's CHECK constraints as lists of values.

CREATE TABLE chip_jobs_rebuilt (
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
INSERT INTO chip_jobs_rebuilt (id, kind, card_id, chip_id, reader, status, phase, apdus, attempts, result, error, actor, created_at, updated_at, finished_at)
SELECT id, kind, card_id, chip_id, reader, status, phase, apdus, attempts, result, error, actor, created_at, updated_at, finished_at FROM chip_jobs ORDER BY id;
-- The next job's id carries on from the last one ever given.
UPDATE sqlite_sequence SET seq = (SELECT seq FROM sqlite_sequence WHERE name = 'chip_jobs')
WHERE name = 'chip_jobs_rebuilt' AND EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'chip_jobs');
DROP TABLE chip_jobs;
ALTER TABLE chip_jobs_rebuilt RENAME TO chip_jobs;
CREATE INDEX chip_jobs_card ON chip_jobs (card_id, id);
CREATE INDEX chip_jobs_status_chip ON chip_jobs (status, chip_id);
