-- Monitoring-wall alerts (告警), SQLite flavour. Keep in step with
-- migrations/postgres/2026-12-01-000003_alerts/up.sql and src/schema.rs.
--
-- One row per alert a rule raised (device in error too long, line stalled,
-- channel down, queue too deep, waste rate too high): open while
-- cleared_at is NULL, then kept as history with when and why it cleared.
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rule TEXT NOT NULL,
    subject TEXT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('warning', 'critical')),
    message TEXT NOT NULL,
    raised_at TIMESTAMP NOT NULL,
    cleared_at TIMESTAMP,
    clear_reason TEXT,
    -- A cleared alert says why; an open one has no reason yet.
    CHECK ((cleared_at IS NULL) = (clear_reason IS NULL))
);
-- At most one open alert per rule and subject: raising it again while it
-- is open finds this row instead of adding another.
CREATE UNIQUE INDEX alerts_open_per_subject ON alerts (rule, subject) WHERE cleared_at IS NULL;
-- The wall's list of open alerts, newest first.
CREATE INDEX alerts_open ON alerts (raised_at, id) WHERE cleared_at IS NULL;
-- The history, newest first.
CREATE INDEX alerts_raised ON alerts (raised_at, id);
