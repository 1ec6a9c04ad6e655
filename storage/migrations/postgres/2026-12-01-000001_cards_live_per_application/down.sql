-- Back to one card per application. Fails while an application has a
-- wasted card and its remake: such a database cannot go back.
DROP INDEX cards_live_per_application;
DROP INDEX cards_application;
ALTER TABLE cards ADD CONSTRAINT cards_application_id_key UNIQUE (application_id);
