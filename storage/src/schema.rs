//! The diesel schema: one `table!` per table, shared by both backends. It is
//! written by hand to match `migrations/sqlite` and `migrations/postgres`
//! (the two must declare the same columns with the same types); only SQL
//! types that `#[derive(MultiConnection)]` supports on both backends are used:
//! `BigInt`, `Integer`, `Text`, `Bool`, `Binary`, `Date`, `Timestamp`.
//!
//! Repositories (the sibling modules) are the only users; nothing outside the
//! crate names these tables.

diesel::table! {
    branches (id) {
        id -> BigInt,
        code -> Text,
        name -> Text,
        kind -> Text,
        created_at -> Timestamp,
        district -> Nullable<Text>,
    }
}

diesel::table! {
    persons (id) {
        id -> BigInt,
        document_type -> Text,
        document_number_enc -> Binary,
        document_number_idx -> Binary,
        name -> Text,
        english_name -> Nullable<Text>,
        permit_chinese_name -> Nullable<Text>,
        nationality -> Integer,
        sex -> Integer,
        ethnicity -> Nullable<Integer>,
        birth_date -> Date,
        phone_enc -> Nullable<Binary>,
        phone_idx -> Nullable<Binary>,
        address_enc -> Nullable<Binary>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    applications (id) {
        id -> BigInt,
        person_id -> BigInt,
        kind -> Text,
        branch_id -> Nullable<BigInt>,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    cards (id) {
        id -> BigInt,
        person_id -> BigInt,
        application_id -> BigInt,
        card_number -> Nullable<Text>,
        status -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    card_status_history (id) {
        id -> BigInt,
        card_id -> BigInt,
        from_status -> Nullable<Text>,
        to_status -> Text,
        action -> Text,
        actor -> Text,
        role -> Text,
        reason -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    operators (id) {
        id -> BigInt,
        username -> Text,
        display_name -> Text,
        role -> Text,
        branch_id -> Nullable<BigInt>,
        password_hash -> Text,
        active -> Bool,
        failed_logins -> Integer,
        locked_until -> Nullable<Timestamp>,
        last_login_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        manual_entry -> Bool,
    }
}

diesel::table! {
    operator_sessions (id) {
        id -> BigInt,
        token_digest -> Binary,
        operator_id -> BigInt,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> BigInt,
        name -> Text,
        role -> Text,
        digest -> Binary,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    devices (id) {
        id -> BigInt,
        kind -> Text,
        name -> Text,
        location -> Nullable<Text>,
        config -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    audit_log (seq) {
        seq -> BigInt,
        at -> Timestamp,
        actor -> Text,
        role -> Text,
        action -> Text,
        subject -> Text,
        detail -> Text,
        prev_hash -> Binary,
        hash -> Binary,
    }
}

diesel::table! {
    audit_head (id) {
        id -> Integer,
        last_seq -> BigInt,
        last_hash -> Binary,
    }
}

diesel::table! {
    outbox (id) {
        id -> BigInt,
        topic -> Text,
        ordering_key -> Text,
        payload -> Text,
        created_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
        attempts -> Integer,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    card_chips (card_id) {
        card_id -> BigInt,
        chip_id -> Text,
        algorithm -> Text,
        card_type -> Text,
        spec_version -> Text,
        institution -> Text,
        issued_on -> Date,
        expires_on -> Date,
        chip_name -> Text,
        substitutions -> Text,
        personalised_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    chip_jobs (id) {
        id -> BigInt,
        kind -> Text,
        card_id -> Nullable<BigInt>,
        chip_id -> Nullable<Text>,
        reader -> Text,
        status -> Text,
        phase -> Text,
        apdus -> Integer,
        attempts -> Integer,
        result -> Nullable<Text>,
        error -> Nullable<Text>,
        actor -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    photos (application_id) {
        application_id -> BigInt,
        jpeg -> Binary,
        width -> Integer,
        height -> Integer,
        created_at -> Timestamp,
    }
}

diesel::table! {
    card_number_counters (prefix) {
        prefix -> Text,
        next_value -> BigInt,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    making_card_batches (id) {
        id -> BigInt,
        kind -> Text,
        task_count -> Integer,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    making_card_tasks (id) {
        id -> BigInt,
        batch_id -> BigInt,
        application_id -> BigInt,
        person_id -> BigInt,
        card_id -> BigInt,
        status -> Text,
        attempts -> Integer,
        max_attempts -> Integer,
        line -> Nullable<Text>,
        printer -> Nullable<Text>,
        step -> Nullable<Text>,
        operator -> Nullable<Text>,
        last_error -> Nullable<Text>,
        queued_at -> Timestamp,
        started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
        updated_at -> Timestamp,
        for_line -> Nullable<Text>,
    }
}

diesel::table! {
    production_steps (id) {
        id -> BigInt,
        task_id -> BigInt,
        card_id -> BigInt,
        attempt -> Integer,
        step -> Text,
        outcome -> Text,
        line -> Nullable<Text>,
        printer -> Nullable<Text>,
        detail -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    waste_cards (id) {
        id -> BigInt,
        task_id -> BigInt,
        card_id -> BigInt,
        card_number -> Nullable<Text>,
        reason -> Text,
        step -> Text,
        device -> Text,
        line -> Nullable<Text>,
        operator -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    envelopes (card_id) {
        card_id -> BigInt,
        task_id -> BigInt,
        created_at -> Timestamp,
        printed_at -> Nullable<Timestamp>,
        printed_by -> Nullable<Text>,
    }
}

diesel::table! {
    dispatch_batches (id) {
        id -> BigInt,
        batch_number -> Text,
        district -> Text,
        status -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    boxes (id) {
        id -> BigInt,
        box_number -> Text,
        branch_id -> Nullable<BigInt>,
        status -> Text,
        capacity -> Integer,
        card_count -> Integer,
        dispatch_id -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    box_cards (card_id) {
        card_id -> BigInt,
        box_id -> BigInt,
        position -> Integer,
        added_at -> Timestamp,
    }
}

diesel::table! {
    dispatch_status_history (id) {
        id -> BigInt,
        entity -> Text,
        entity_id -> BigInt,
        from_status -> Nullable<Text>,
        to_status -> Text,
        actor -> Text,
        role -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    production_lines (name) {
        name -> Text,
        state -> Text,
        updated_by -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    alerts (id) {
        id -> BigInt,
        rule -> Text,
        subject -> Text,
        severity -> Text,
        message -> Text,
        raised_at -> Timestamp,
        cleared_at -> Nullable<Timestamp>,
        clear_reason -> Nullable<Text>,
    }
}

diesel::table! {
    terminals (id) {
        id -> BigInt,
        terminal_id -> Text,
        branch_id -> BigInt,
        public_key -> Binary,
        status -> Text,
        description -> Nullable<Text>,
        registered_at -> Timestamp,
        last_seen_at -> Nullable<Timestamp>,
        last_address -> Nullable<Text>,
    }
}

diesel::table! {
    id_reads (id) {
        id -> BigInt,
        branch_id -> BigInt,
        terminal_id -> Text,
        operator -> Text,
        document_type -> Text,
        document_number_enc -> Binary,
        document_number_idx -> Binary,
        name -> Text,
        english_name -> Nullable<Text>,
        chinese_name -> Nullable<Text>,
        sex -> Integer,
        ethnicity -> Nullable<Integer>,
        birth_date -> Date,
        nationality -> Nullable<Integer>,
        valid_from -> Nullable<Date>,
        valid_to -> Nullable<Date>,
        read_at -> Timestamp,
    }
}

diesel::table! {
    application_evidence (application_id) {
        application_id -> BigInt,
        branch_id -> BigInt,
        entry -> Text,
        id_read_id -> Nullable<BigInt>,
        manual_reason -> Nullable<Text>,
        operator -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    branch_operations (id) {
        id -> BigInt,
        branch_id -> BigInt,
        operator -> Text,
        kind -> Text,
        card_id -> Nullable<BigInt>,
        application_id -> Nullable<BigInt>,
        outcome -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    self_service_machines (id) {
        id -> BigInt,
        machine_id -> Text,
        branch_id -> BigInt,
        location -> Text,
        public_key -> Binary,
        status -> Text,
        last_signed_ms -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(applications -> persons (person_id));
diesel::joinable!(applications -> branches (branch_id));
diesel::joinable!(cards -> persons (person_id));
diesel::joinable!(cards -> applications (application_id));
diesel::joinable!(card_status_history -> cards (card_id));
diesel::joinable!(operators -> branches (branch_id));
diesel::joinable!(operator_sessions -> operators (operator_id));
diesel::joinable!(card_chips -> cards (card_id));
diesel::joinable!(chip_jobs -> cards (card_id));
diesel::joinable!(photos -> applications (application_id));
diesel::joinable!(making_card_tasks -> making_card_batches (batch_id));
diesel::joinable!(making_card_tasks -> cards (card_id));
diesel::joinable!(production_steps -> making_card_tasks (task_id));
diesel::joinable!(waste_cards -> making_card_tasks (task_id));
diesel::joinable!(envelopes -> cards (card_id));
diesel::joinable!(boxes -> branches (branch_id));
diesel::joinable!(boxes -> dispatch_batches (dispatch_id));
diesel::joinable!(box_cards -> boxes (box_id));
diesel::joinable!(box_cards -> cards (card_id));
diesel::joinable!(id_reads -> branches (branch_id));
diesel::joinable!(application_evidence -> applications (application_id));
diesel::joinable!(application_evidence -> id_reads (id_read_id));
diesel::joinable!(branch_operations -> branches (branch_id));
diesel::joinable!(self_service_machines -> branches (branch_id));
diesel::joinable!(terminals -> branches (branch_id));

diesel::allow_tables_to_appear_in_same_query!(
    branches,
    persons,
    applications,
    cards,
    card_status_history,
    operators,
    operator_sessions,
    api_tokens,
    devices,
    audit_log,
    audit_head,
    outbox,
    card_chips,
    chip_jobs,
    photos,
    card_number_counters,
    making_card_batches,
    making_card_tasks,
    production_steps,
    waste_cards,
    envelopes,
    dispatch_batches,
    boxes,
    box_cards,
    dispatch_status_history,
    production_lines,
    alerts,
    id_reads,
    application_evidence,
    branch_operations,
    self_service_machines,
    terminals,
);
