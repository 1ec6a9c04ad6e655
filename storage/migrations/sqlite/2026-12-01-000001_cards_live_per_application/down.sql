-- Back to one card per application. Fails (UNIQUE) while an application
-- has a wasted card and its remake: such a database cannot go back.

PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

CREATE TABLE cards_rebuilt (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    person_id BIGINT NOT NULL REFERENCES persons (id),
    application_id BIGINT NOT NULL UNIQUE REFERENCES applications (id),
    card_number TEXT UNIQUE,
    status TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
INSERT INTO cards_rebuilt (id, person_id, application_id, card_number, status, version, created_at, updated_at)
SELECT id, person_id, application_id, card_number, status, version, created_at, updated_at FROM cards;
UPDATE sqlite_sequence
SET seq = (SELECT seq FROM sqlite_sequence WHERE name = 'cards')
WHERE name = 'cards_rebuilt' AND EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'cards');
DROP TABLE cards;
ALTER TABLE cards_rebuilt RENAME TO cards;

CREATE INDEX cards_person ON cards (person_id);
CREATE INDEX cards_status ON cards (status);

CREATE TEMP TABLE cards_rebuild_fk_check (violations INTEGER NOT NULL CHECK (violations = 0));
INSERT INTO cards_rebuild_fk_check SELECT count(*) FROM pragma_foreign_key_check;
DROP TABLE cards_rebuild_fk_check;

COMMIT;
PRAGMA foreign_keys = ON;
