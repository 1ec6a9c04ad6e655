-- One live card per application, PostgreSQL flavour. Keep in step with
-- migrations/sqlite/2026-12-01-000001_cards_live_per_application/up.sql.
--
-- A wasted card (status `waste`) is final and its making-card task is
-- re-queued as a new card row for the same application, so
-- `cards.application_id` can no longer be UNIQUE: a partial unique index
-- keeps one non-waste card per application instead. Runs in diesel's
-- transaction; no row or foreign key is touched.

ALTER TABLE cards DROP CONSTRAINT cards_application_id_key;
CREATE INDEX cards_application ON cards (application_id, id);
CREATE UNIQUE INDEX cards_live_per_application ON cards (application_id) WHERE status <> 'waste';
