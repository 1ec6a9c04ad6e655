-- Fewer pages in every audited commit, postgres flavour. Keep in step with
-- migrations/sqlite/2026-12-03-000000_lighter_commits/up.sql and
-- src/schema.rs.
--
-- The audit log needs nothing here: its primary key is its only index on
-- both backends once SQLite's is the rowid. A chip job's start and end
-- changed two indexes on `chip_jobs` that both hold its status; one on
-- `(status, chip_id)` serves both lookups (running jobs at start-up; the
-- interrupted personalisation of a chip).
DROP INDEX chip_jobs_chip_status;
DROP INDEX chip_jobs_status;
CREATE INDEX chip_jobs_status_chip ON chip_jobs (status, chip_id);
