-- cardhub workshop (制卡车间), SQLite flavour. Keep in step with
-- migrations/postgres/2026-12-01-000000_workshop/up.sql and src/schema.rs.
-- The next migration (2026-12-01-000001_cards_live_per_application) makes
-- room for the remade cards these tables refer to.

-- 区: the district a branch belongs to; dispatch batches go to a district
-- first, then each box to its branch.
ALTER TABLE branches ADD COLUMN district TEXT;

-- The holder's photo for an application (one JPEG, replaced while the card
-- is still `applied`).
CREATE TABLE photos (
    application_id BIGINT PRIMARY KEY NOT NULL REFERENCES applications (id),
    jpeg BLOB NOT NULL,
    width INTEGER NOT NULL CHECK (width > 0),
    height INTEGER NOT NULL CHECK (height > 0),
    created_at TIMESTAMP NOT NULL
);

-- Card numbers are allocated per prefix; the row and the card that gets
-- the number commit together, so no number is issued twice.
CREATE TABLE card_number_counters (
    prefix TEXT PRIMARY KEY NOT NULL,
    next_value BIGINT NOT NULL CHECK (next_value >= 1),
    updated_at TIMESTAMP NOT NULL
);

-- 制卡任务抽取 / 单独抽取: one extraction run.
CREATE TABLE making_card_batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('normal', 'permanent-residence')),
    task_count INTEGER NOT NULL CHECK (task_count > 0),
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- 制卡任务: one per application; it follows the application's card, and a
-- wasted card's remake is the same task on a new card.
CREATE TABLE making_card_tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_id BIGINT NOT NULL REFERENCES making_card_batches (id),
    application_id BIGINT NOT NULL UNIQUE REFERENCES applications (id),
    person_id BIGINT NOT NULL REFERENCES persons (id),
    card_id BIGINT NOT NULL UNIQUE REFERENCES cards (id),
    status TEXT NOT NULL CHECK (status IN ('queued', 'in-production', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1),
    line TEXT,
    printer TEXT,
    step TEXT,
    operator TEXT,
    last_error TEXT,
    queued_at TIMESTAMP NOT NULL,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    updated_at TIMESTAMP NOT NULL
);
-- The queue: the next task is the first entry of (status = 'queued') in
-- (queued_at, id) order. Also serves counts per status and status filters.
CREATE INDEX making_card_tasks_queue ON making_card_tasks (status, queued_at, id);
CREATE INDEX making_card_tasks_line ON making_card_tasks (line, status);
CREATE INDEX making_card_tasks_batch ON making_card_tasks (batch_id, id);
CREATE INDEX making_card_tasks_finished ON making_card_tasks (finished_at);

-- Every step a card went through on a line, in order.
CREATE TABLE production_steps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id BIGINT NOT NULL REFERENCES making_card_tasks (id),
    card_id BIGINT NOT NULL REFERENCES cards (id),
    attempt INTEGER NOT NULL,
    step TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('done', 'failed')),
    line TEXT,
    printer TEXT,
    detail TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX production_steps_task ON production_steps (task_id, id);
CREATE INDEX production_steps_card ON production_steps (card_id, id);

-- 废卡登记: waste registration, one row per wasted card.
CREATE TABLE waste_cards (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id BIGINT NOT NULL REFERENCES making_card_tasks (id),
    card_id BIGINT NOT NULL UNIQUE REFERENCES cards (id),
    card_number TEXT,
    reason TEXT NOT NULL,
    step TEXT NOT NULL,
    device TEXT NOT NULL,
    line TEXT,
    operator TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX waste_cards_at ON waste_cards (at);
CREATE INDEX waste_cards_task ON waste_cards (task_id, id);

-- 邮封: a finished card's envelope, ready to print.
CREATE TABLE envelopes (
    card_id BIGINT PRIMARY KEY NOT NULL REFERENCES cards (id),
    task_id BIGINT NOT NULL REFERENCES making_card_tasks (id),
    created_at TIMESTAMP NOT NULL,
    printed_at TIMESTAMP,
    printed_by TEXT
);

-- 发运批次: boxes going to one district.
CREATE TABLE dispatch_batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_number TEXT NOT NULL UNIQUE,
    district TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('created', 'dispatched', 'district-signed', 'completed')),
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX dispatch_batches_status ON dispatch_batches (status, id);

-- 卡盒: finished cards for one branch (NULL: the centre's own counter).
CREATE TABLE boxes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    box_number TEXT NOT NULL UNIQUE,
    branch_id BIGINT REFERENCES branches (id),
    status TEXT NOT NULL CHECK (status IN ('packing', 'sealed', 'in-warehouse', 'dispatched', 'district-signed', 'branch-signed')),
    capacity INTEGER NOT NULL CHECK (capacity > 0),
    card_count INTEGER NOT NULL DEFAULT 0 CHECK (card_count >= 0 AND card_count <= capacity),
    dispatch_id BIGINT REFERENCES dispatch_batches (id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX boxes_branch_status ON boxes (branch_id, status);
CREATE INDEX boxes_status ON boxes (status, id);
CREATE INDEX boxes_dispatch ON boxes (dispatch_id);

-- Which box a card is in (a card is in one box at most).
CREATE TABLE box_cards (
    card_id BIGINT PRIMARY KEY NOT NULL REFERENCES cards (id),
    box_id BIGINT NOT NULL REFERENCES boxes (id),
    position INTEGER NOT NULL,
    added_at TIMESTAMP NOT NULL,
    UNIQUE (box_id, position)
);

-- Every status change of a box or a dispatch batch.
CREATE TABLE dispatch_status_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    entity TEXT NOT NULL CHECK (entity IN ('box', 'dispatch')),
    entity_id BIGINT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX dispatch_status_history_entity ON dispatch_status_history (entity, entity_id, id);
