-- Branch terminals (网点终端), SQLite flavour. Keep in step with
-- migrations/postgres/2026-12-01-000004_terminals/up.sql and src/schema.rs.
--
-- One row per branch PC allowed to link its devices to the hub over
-- /ws/terminal: its id (what its `hello` names), the branch it serves, and
-- the SM2 public key it proves itself with (SEC1 uncompressed: 0x04 || x
-- || y, 65 bytes). A terminal is disabled, never deleted, so the audit
-- trail keeps its id.
CREATE TABLE terminals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    terminal_id TEXT NOT NULL UNIQUE,
    branch_id BIGINT NOT NULL REFERENCES branches (id),
    public_key BLOB NOT NULL CHECK (length(public_key) = 65),
    status TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    description TEXT,
    registered_at TIMESTAMP NOT NULL,
    -- When the terminal last authenticated or its link last dropped.
    last_seen_at TIMESTAMP,
    -- The address it last connected from (`IP:port`).
    last_address TEXT
);
-- A branch's terminals.
CREATE INDEX terminals_branch ON terminals (branch_id);
