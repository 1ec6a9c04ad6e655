-- One live card per application, SQLite flavour. Keep in step with
-- migrations/postgres/2026-12-01-000001_cards_live_per_application/up.sql.
--
-- A wasted card (status `waste`) is final and its making-card task is
-- re-queued as a new card row for the same application, so
-- `cards.application_id` can no longer be UNIQUE: a partial unique index
-- keeps one non-waste card per application instead.
--
-- SQLite cannot drop a column constraint, so the table is rebuilt by the
-- procedure of https://www.sqlite.org/lang_altertable.html#otheralter:
-- foreign keys off (they name `cards`, which is dropped and replaced; the
-- rows referring to it, in card_status_history, card_chips, chip_jobs and
-- the workshop tables, are untouched), one immediate transaction, a
-- foreign-key check that aborts the migration on any dangling reference,
-- commit, foreign keys on again. diesel records the migration after the
-- commit (metadata.toml: run_in_transaction = false); the script is
-- idempotent, so running it again after a crash between the two rebuilds
-- the same table.

PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

CREATE TABLE cards_rebuilt (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    person_id BIGINT NOT NULL REFERENCES persons (id),
    application_id BIGINT NOT NULL REFERENCES applications (id),
    card_number TEXT UNIQUE,
    status TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
INSERT INTO cards_rebuilt (id, person_id, application_id, card_number, status, version, created_at, updated_at)
SELECT id, person_id, application_id, card_number, status, version, created_at, updated_at FROM cards;
-- Ids are never reused: carry the AUTOINCREMENT high-water mark over.
UPDATE sqlite_sequence
SET seq = (SELECT seq FROM sqlite_sequence WHERE name = 'cards')
WHERE name = 'cards_rebuilt' AND EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'cards');
DROP TABLE cards;
ALTER TABLE cards_rebuilt RENAME TO cards;

CREATE INDEX cards_person ON cards (person_id);
CREATE INDEX cards_status ON cards (status);
CREATE INDEX cards_application ON cards (application_id, id);
CREATE UNIQUE INDEX cards_live_per_application ON cards (application_id) WHERE status <> 'waste';

-- Abort (CHECK fails, nothing commits) if any reference dangles.
CREATE TEMP TABLE cards_rebuild_fk_check (violations INTEGER NOT NULL CHECK (violations = 0));
INSERT INTO cards_rebuild_fk_check SELECT count(*) FROM pragma_foreign_key_check;
DROP TABLE cards_rebuild_fk_check;

COMMIT;
PRAGMA foreign_keys = ON;
