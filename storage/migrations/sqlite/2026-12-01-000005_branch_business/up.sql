-- Branch business (网点业务), SQLite flavour. Keep in step with
-- migrations/postgres/2026-12-01-000005_branch_business/up.sql and
-- src/schema.rs. What the tables are for is in src/branch/mod.rs.

-- Whether an operator may accept an application without an ID card read
-- (手工录入): off for every existing account.
ALTER TABLE operators ADD COLUMN manual_entry BOOLEAN NOT NULL DEFAULT 0;

-- One row per identity card read through a branch terminal: the evidence
-- an application refers to. The number is sealed and blind-indexed like
-- persons.document_number (same column key domain, so the two indexes
-- compare); the card's address and raw text block are not kept.
CREATE TABLE id_reads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    branch_id BIGINT NOT NULL REFERENCES branches (id),
    terminal_id TEXT NOT NULL,
    operator TEXT NOT NULL,
    document_type TEXT NOT NULL,
    document_number_enc BLOB NOT NULL,
    document_number_idx BLOB NOT NULL,
    name TEXT NOT NULL,
    english_name TEXT,
    chinese_name TEXT,
    sex INTEGER NOT NULL,
    ethnicity INTEGER,
    birth_date DATE NOT NULL,
    -- ISO 3166-1 numeric; NULL when the card's code is in no table.
    nationality INTEGER,
    valid_from DATE,
    -- NULL: 长期 (no end).
    valid_to DATE,
    read_at TIMESTAMP NOT NULL
);
CREATE INDEX id_reads_branch ON id_reads (branch_id, read_at);
CREATE INDEX id_reads_number ON id_reads (document_number_idx);

-- How the applicant of a branch application was identified: an ID read of
-- the same branch, or a manual entry by an operator allowed to.
CREATE TABLE application_evidence (
    application_id BIGINT PRIMARY KEY NOT NULL REFERENCES applications (id),
    branch_id BIGINT NOT NULL REFERENCES branches (id),
    entry TEXT NOT NULL CHECK (entry IN ('id-read', 'manual')),
    id_read_id BIGINT REFERENCES id_reads (id),
    manual_reason TEXT,
    operator TEXT NOT NULL,
    at TIMESTAMP NOT NULL,
    CHECK ((entry = 'id-read') = (id_read_id IS NOT NULL)),
    CHECK ((entry = 'manual') = (manual_reason IS NOT NULL))
);

-- Every business operation done at a branch counter, written in the
-- operation's own transaction: what the statistics count.
CREATE TABLE branch_operations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    branch_id BIGINT NOT NULL REFERENCES branches (id),
    operator TEXT NOT NULL,
    kind TEXT NOT NULL,
    card_id BIGINT REFERENCES cards (id),
    application_id BIGINT REFERENCES applications (id),
    outcome TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX branch_operations_branch_at ON branch_operations (branch_id, at);
CREATE INDEX branch_operations_at ON branch_operations (at);

-- Self-service machines (自助机) registered with the centre (备案): the
-- SM2 public key (SEC1 uncompressed, 65 bytes) their photo uploads are
-- signed with, and the newest signed time accepted (a replayed upload is
-- refused).
CREATE TABLE self_service_machines (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    machine_id TEXT NOT NULL UNIQUE,
    branch_id BIGINT NOT NULL REFERENCES branches (id),
    location TEXT NOT NULL,
    public_key BLOB NOT NULL CHECK (length(public_key) = 65),
    status TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    last_signed_ms BIGINT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX self_service_machines_branch ON self_service_machines (branch_id);
