-- Production line states (产线状态), PostgreSQL flavour. Keep in step with
-- migrations/sqlite/2026-12-01-000002_production_lines/up.sql and
-- src/schema.rs.
--
-- One row per line that has ever been paused, stopped or started by an
-- operator: the state a restarted hub puts the line back in. A line with
-- no row runs as configured.
CREATE TABLE production_lines (
    name TEXT PRIMARY KEY NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'paused', 'stopped')),
    updated_by TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
