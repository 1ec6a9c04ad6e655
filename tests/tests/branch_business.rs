//! End to end: branch business (网点业务) over HTTP on the real binary. A
//! community centre and a bank branch, operators made with `cardhub
//! operator create` (one with `--manual-entry`) who log in; ID reads
//! recorded as the terminal's read endpoint records them (the test opens
//! the hub's database as a second process); then permanent-residence
//! applications at each branch kind, manual entry with and without the
//! permission, loss → unlock, formal loss → replacement, cancellation, an
//! illegal move refused with nothing written, masking by role, the
//! statistics, and the self-service machine register with signed photo
//! uploads.

use cardhub_protocols::crypto::sm2::SigningKey;
use cardhub_protocols::crypto::sm3;
use cardhub_protocols::identity;
use cardhub_protocols::roles::Role;
use cardhub_storage::branch::NewIdRead;
use cardhub_storage::branch::id_reads::document_type_name;
use cardhub_storage::branches::{self, BranchKind, NewBranch};
use cardhub_storage::persons::Sex;
use cardhub_storage::{Actor, Store, outbox, utc_now};
use cardhub_tests::workshop::{permit_number, resident_number};
use cardhub_tests::{Http, HubProcess};
use chrono::TimeDelta;
use diesel::prelude::*;
use serde_json::{Value, json};

/// Every operator's password (the CLI wants at least 12 characters).
const PASSWORD: &str = "counter-password-1";

/// A hub with two branches, their operators logged in, and the centre.
struct Counters {
    hub: HubProcess,
    store: Store,
    /// The admin's API token.
    admin: Http,
    /// A branch operator at community centre XH01.
    xh: Http,
    /// A branch operator at XH01 with the manual-entry permission.
    xh_manual: Http,
    /// A branch operator at bank branch BK01.
    bank: Http,
    /// Centre staff (no branch).
    centre: Http,
    xh_id: i64,
    bank_id: i64,
}

fn login(hub: &HubProcess, username: &str) -> Http {
    let reply = hub.http(None).post(
        "/api/v1/session",
        &json!({ "username": username, "password": PASSWORD }),
    );
    assert_eq!(reply.status, 200, "{username} logs in: {}", reply.text);
    hub.http(reply.json()["token"].as_str())
}

fn operator(hub: &HubProcess, username: &str, role: &str, extra: &[&str]) {
    let mut args = vec!["operator", "create", "--username", username, "--role", role];
    args.extend_from_slice(extra);
    let made = hub.cli(&args, Some(&format!("{PASSWORD}\n")));
    assert!(
        made.status.success(),
        "operator create {username}: {}{}",
        String::from_utf8_lossy(&made.stdout),
        String::from_utf8_lossy(&made.stderr)
    );
}

fn counters() -> Counters {
    let hub = HubProcess::start();
    let store = hub.open_store();
    let hsm = store.hsm().clone();
    let root = Actor::new("test", Role::Admin);
    let (xh_id, bank_id) = store
        .with_conn(|conn| {
            let mut made = Vec::new();
            for (code, name, kind) in [
                ("XH01", "徐汇区社区事务受理服务中心", BranchKind::Community),
                ("BK01", "银行徐汇支行", BranchKind::Bank),
            ] {
                let branch = branches::create(
                    conn,
                    hsm.as_ref(),
                    &NewBranch {
                        code: code.into(),
                        name: name.into(),
                        kind,
                    },
                    &root,
                )?;
                made.push(branch.id);
            }
            Ok((made[0], made[1]))
        })
        .expect("branches are created");
    operator(&hub, "desk-xh", "branch-operator", &["--branch", "XH01"]);
    operator(
        &hub,
        "desk-xh-manual",
        "branch-operator",
        &["--branch", "XH01", "--manual-entry"],
    );
    operator(&hub, "desk-bk", "branch-operator", &["--branch", "BK01"]);
    operator(&hub, "li", "centre-staff", &[]);
    Counters {
        admin: hub.http(Some(&hub.dev_token())),
        xh: login(&hub, "desk-xh"),
        xh_manual: login(&hub, "desk-xh-manual"),
        bank: login(&hub, "desk-bk"),
        centre: login(&hub, "li"),
        hub,
        store,
        xh_id,
        bank_id,
    }
}

impl Counters {
    /// Records the terminal's read of the card with `number`, made
    /// `minutes_ago`, at `branch_id`; returns its id.
    fn read_card(&self, branch_id: i64, number: &str, name: &str, minutes_ago: i64) -> i64 {
        let id = identity::parse(number, utc_now().date()).expect("a valid number");
        let read = NewIdRead {
            branch_id,
            terminal_id: "T-1".to_owned(),
            document_type: document_type_name(id.document_type()).to_owned(),
            document_number: number.to_owned(),
            name: name.to_owned(),
            english_name: None,
            chinese_name: None,
            sex: match id.sex() {
                Some(identity::Sex::Male) => Sex::Male,
                _ => Sex::Female,
            },
            ethnicity: None,
            birth_date: id.birth_date().expect("an 18-character number"),
            nationality: Some(i32::from(id.nationality().numeric)),
            valid_from: None,
            valid_to: None,
            read_at: utc_now() - TimeDelta::minutes(minutes_ago),
        };
        let hsm = self.store.hsm().clone();
        self.store
            .with_conn(|conn| {
                cardhub_storage::branch::record_id_read(
                    conn,
                    hsm.as_ref(),
                    &read,
                    &Actor::new("desk-xh", Role::BranchOperator),
                )
            })
            .expect("the read is recorded")
    }

    fn applications(&self) -> i64 {
        self.store
            .with_conn(cardhub_storage::applications::count_applications)
            .expect("applications are counted")
    }

    fn outbox(&self) -> Vec<outbox::OutboxMessage> {
        self.store
            .with_conn(|conn| outbox::pending(conn, 10_000))
            .expect("the outbox is read")
    }

    fn audit_seq(&self) -> i64 {
        use cardhub_storage::schema::audit_head;
        self.store
            .with_conn(|conn| {
                audit_head::table
                    .select(audit_head::last_seq)
                    .first(conn)
                    .map_err(|e| cardhub_storage::StorageError::Database {
                        context: "read the audit head",
                        source: e,
                    })
            })
            .expect("the audit head is read")
    }

    /// Moves a card along with the admin's token (who may make every edge).
    fn advance(&self, card: i64, to: &[&str]) {
        for status in to {
            let moved = self.admin.post(
                &format!("/api/v1/cards/{card}/transitions"),
                &json!({ "to": status, "reason": "set up" }),
            );
            assert_eq!(moved.status, 200, "to {status}: {}", moved.text);
        }
    }
}

/// A resident's first-issue application at XH01 on an ID read; returns
/// the answer.
fn resident_applies(c: &Counters, n: u32, name: &str, phone: Option<&str>) -> Value {
    let number = resident_number(n);
    let read = c.read_card(c.xh_id, &number, name, 1);
    let reply = c.xh.post(
        "/api/v1/branch/applications",
        &json!({
            "kind": "first-issue",
            "applicant": {
                "document_number": number,
                "name": name,
                "ethnicity": 1,
                "phone": phone,
                "address": "上海市徐汇区漕溪北路1200号",
            },
            "id_read_id": read,
        }),
    );
    assert_eq!(reply.status, 201, "{}", reply.text);
    reply.json()
}

fn op(http: &Http, card: i64, operation: &str) -> cardhub_tests::Reply {
    http.post(
        &format!("/api/v1/branch/cards/{card}/{operation}"),
        &json!({ "reason": format!("{operation} requested by the holder") }),
    )
}

#[test]
fn permanent_residence_applications_are_for_community_branches_and_filled_from_the_number() {
    let c = counters();
    let context = c.xh.get("/api/v1/branch/context");
    assert_eq!(context.status, 200, "{}", context.text);
    let context = context.json();
    assert_eq!(context["branch"]["code"], "XH01");
    assert_eq!(context["branch"]["kind"], "community");
    assert_eq!(context["operator"]["manual_entry"], false);
    let offered = context["operations"].to_string();
    assert!(offered.contains("apply-permanent-residence"), "{offered}");
    let bank_context = c.bank.get("/api/v1/branch/context").json();
    assert!(
        !bank_context["operations"]
            .to_string()
            .contains("apply-permanent-residence"),
        "{bank_context}"
    );
    // The centre's staff member has no counter.
    assert_eq!(c.centre.get("/api/v1/branch/context").status, 403);
    // Every branch endpoint is in the OpenAPI document, tagged `branch`.
    let api = c.admin.get("/api/v1/openapi.json").json();
    for (path, method) in [
        ("/api/v1/branch/context", "get"),
        ("/api/v1/branch/applications", "post"),
        ("/api/v1/branch/applications", "get"),
        ("/api/v1/branch/cards", "get"),
        ("/api/v1/branch/cards/{id}/{operation}", "post"),
        ("/api/v1/branch/persons", "get"),
        ("/api/v1/branch/statistics", "get"),
        ("/api/v1/branch/machines", "post"),
        ("/api/v1/branch/machines/{machine_id}", "patch"),
        ("/api/v1/branch/machines/{machine_id}", "delete"),
        ("/api/v1/branch/machines/{machine_id}/photos", "post"),
    ] {
        assert_eq!(
            api["paths"][path][method]["tags"][0], "branch",
            "{method} {path} is documented"
        );
    }

    // A Canadian permanent resident at the community centre: nationality,
    // document type and ethnicity are filled in, the Chinese name kept.
    let number = "911124198108030024";
    let read = c.read_card(c.xh_id, number, "简", 2);
    let accepted = c.xh.post(
        "/api/v1/branch/applications",
        &json!({
            "kind": "first-issue",
            "applicant": {
                "document_number": number,
                "name": "JANE EXAMPLE",
                "chinese_name": "简",
                "phone": "13800138000",
            },
            "id_read_id": read,
        }),
    );
    assert_eq!(accepted.status, 201, "{}", accepted.text);
    let accepted = accepted.json();
    let registered = &accepted["registered"];
    assert_eq!(registered["nationality"], 124);
    assert_eq!(registered["document_type"], "permanent-residence");
    assert_eq!(registered["chinese_name"], "简");
    assert_eq!(registered["english_name"], "JANE EXAMPLE");
    assert_eq!(registered["ethnicity"], 97, "其他 by default");
    assert_eq!(accepted["application"]["branch_id"], c.xh_id);
    assert_eq!(accepted["card"]["status"], "applied");
    assert_eq!(accepted["evidence"]["entry"], "id-read");
    let person = c
        .store
        .with_conn(|conn| {
            cardhub_storage::persons::get(
                conn,
                c.store.hsm().as_ref(),
                accepted["person_id"].as_i64().expect("an id"),
            )
        })
        .expect("the person is stored");
    assert_eq!(person.permit_chinese_name.as_deref(), Some("简"));
    assert_eq!(person.nationality, 124);
    let sms = c
        .outbox()
        .into_iter()
        .rfind(|m| m.topic == outbox::SMS_CARD_STATUS_TOPIC)
        .expect("the holder is told");
    assert!(
        sms.payload.contains("application-accepted"),
        "{}",
        sms.payload
    );

    // The same kind of holder at a bank branch: refused, nothing written.
    let before = c.applications();
    let other = permit_number(3);
    let read = c.read_card(c.bank_id, &other, "JOHN", 1);
    let refused = c.bank.post(
        "/api/v1/branch/applications",
        &json!({
            "kind": "first-issue",
            "applicant": { "document_number": other, "name": "JOHN EXAMPLE" },
            "id_read_id": read,
        }),
    );
    assert_eq!(refused.status, 403, "{}", refused.text);
    let body = refused.json();
    assert_eq!(
        body["detail"]["rule"],
        "permanent-residence-at-community-branches"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("community"),
        "{body}"
    );
    assert_eq!(c.applications(), before);

    // A read from another branch, and a read too old, do not serve.
    let resident = resident_number(11);
    let elsewhere = c.read_card(c.bank_id, &resident, "王五", 1);
    let stale = c.read_card(c.xh_id, &resident, "王五", 31);
    for (read, reason) in [(elsewhere, "other-branch"), (stale, "too-old")] {
        let reply = c.xh.post(
            "/api/v1/branch/applications",
            &json!({
                "kind": "first-issue",
                "applicant": { "document_number": resident, "name": "王五" },
                "id_read_id": read,
            }),
        );
        assert_eq!(reply.status, 409, "{reason}: {}", reply.text);
        assert_eq!(reply.json()["error"], "id-read-unusable");
        assert_eq!(reply.json()["detail"]["reason"], reason);
    }
    assert_eq!(c.applications(), before);
    c.hub.assert_audit_intact();
}

#[test]
fn manual_entry_needs_the_operators_permission() {
    let c = counters();
    let number = resident_number(21);
    let request = json!({
        "kind": "first-issue",
        "applicant": { "document_number": number, "name": "赵六" },
        "manual_entry_reason": "the ID reader is out of order",
    });
    let before = c.applications();
    let refused = c.xh.post("/api/v1/branch/applications", &request);
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert_eq!(refused.json()["detail"]["rule"], "manual-entry-permission");
    assert_eq!(c.applications(), before, "nothing was written");

    let manual_context = c.xh_manual.get("/api/v1/branch/context").json();
    assert!(
        manual_context["operations"]
            .to_string()
            .contains("manual-entry")
    );
    let accepted = c.xh_manual.post("/api/v1/branch/applications", &request);
    assert_eq!(accepted.status, 201, "{}", accepted.text);
    assert_eq!(accepted.json()["evidence"]["entry"], "manual");
    let listed = c.xh.get("/api/v1/branch/applications").json();
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["items"][0]["evidence"]["entry"], "manual");
    assert_eq!(
        listed["items"][0]["evidence"]["reason"],
        "the ID reader is out of order"
    );
    assert_eq!(listed["items"][0]["person_name"], "赵*", "masked");
    // Neither evidence is a bad request.
    let neither = c.xh.post(
        "/api/v1/branch/applications",
        &json!({
            "kind": "first-issue",
            "applicant": { "document_number": resident_number(22), "name": "钱七" },
        }),
    );
    assert_eq!(neither.status, 400, "{}", neither.text);
}

#[test]
fn a_card_is_lost_unlocked_lost_for_good_replaced_and_cancelled_and_the_statistics_count_it() {
    let c = counters();
    let first = resident_applies(&c, 31, "孙八", Some("13900139000"));
    let card = first["card"]["id"].as_i64().expect("a card id");
    c.advance(
        card,
        &[
            "photo-approved",
            "data-prepared",
            "in-production",
            "produced",
            "qc-passed",
            "mailed",
            "at-branch",
        ],
    );
    // Only the branch the card was sent to hands it over.
    let elsewhere = op(&c.bank, card, "hand-over");
    assert_eq!(elsewhere.status, 409, "{}", elsewhere.text);
    assert_eq!(elsewhere.json()["error"], "card-at-other-branch");
    for (operation, status) in [
        ("hand-over", "received"),
        ("activation", "activated"),
        ("temporary-loss", "temporarily-lost"),
        ("unlock", "unlocked"),
    ] {
        let done = op(&c.xh, card, operation);
        assert_eq!(done.status, 200, "{operation}: {}", done.text);
        assert_eq!(done.json()["status"], status);
    }
    // A loss may be reported at any branch; it counts where it was done.
    let lost = op(&c.bank, card, "temporary-loss");
    assert_eq!(lost.status, 200, "{}", lost.text);
    let outbox_before = c.outbox().len();
    let formally = op(&c.xh, card, "formal-loss");
    assert_eq!(formally.status, 200, "{}", formally.text);
    let notices: Vec<String> = c.outbox()[outbox_before..]
        .iter()
        .map(|m| m.topic.clone())
        .collect();
    assert_eq!(
        notices,
        ["card-status", "sms.card-status", "bank.card-status"],
        "one transaction: the status change, the holder's SMS, the bank's notice"
    );

    // The replacement cancels the formally lost card in its transaction.
    let number = resident_number(31);
    let read = c.read_card(c.xh_id, &number, "孙八", 0);
    let replaced = c.xh.post(
        "/api/v1/branch/applications",
        &json!({
            "kind": "replacement",
            "applicant": { "document_number": number, "name": "孙八", "ethnicity": 1 },
            "id_read_id": read,
            "replaces_card_id": card,
        }),
    );
    assert_eq!(replaced.status, 201, "{}", replaced.text);
    let replaced = replaced.json();
    assert_eq!(replaced["replaced_card"]["status"], "cancelled");
    assert_eq!(replaced["card"]["status"], "applied");
    assert_eq!(replaced["person_created"], false);
    let history = c.admin.get(&format!("/api/v1/cards/{card}/history")).json();
    let last = history.as_array().and_then(|h| h.last()).expect("history");
    assert_eq!(last["action"], "注销");
    assert_eq!(last["actor"], "desk-xh");
    let bank_notice = c
        .outbox()
        .into_iter()
        .rfind(|m| m.topic == outbox::BANK_CARD_STATUS_TOPIC)
        .expect("the bank hears of the cancellation");
    assert!(
        bank_notice.payload.contains("\"to\":\"cancelled\""),
        "{}",
        bank_notice.payload
    );

    // Another holder's card is cancelled at the counter.
    let second = resident_applies(&c, 32, "周九", None);
    let other_card = second["card"]["id"].as_i64().expect("a card id");
    let cancelled = op(&c.xh, other_card, "cancellation");
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    assert_eq!(cancelled.json()["status"], "cancelled");

    // The holder's cards, looked up at the counter.
    let cards =
        c.xh.get(&format!("/api/v1/branch/cards?document_number={number}"))
            .json();
    assert_eq!(cards["cards"].as_array().map(Vec::len), Some(2));
    assert_eq!(cards["name"], "孙*");

    // The statistics count exactly what was done, where.
    let stats = c.xh.get("/api/v1/branch/statistics").json();
    let totals = &stats["totals"];
    assert_eq!(stats["branch"], "XH01");
    assert_eq!(totals["first-issue"], 2);
    assert_eq!(totals["replacement"], 1);
    assert_eq!(totals["hand-over"], 1);
    assert_eq!(totals["activation"], 1);
    assert_eq!(totals["temporary-loss"], 1, "the bank's loss counts there");
    assert_eq!(totals["unlock"], 1);
    assert_eq!(totals["formal-loss"], 1);
    assert_eq!(totals["cancellation"], 1);
    assert_eq!(totals["card-lookup"], 1);
    let per_day: i64 = stats["days"]
        .as_array()
        .map(|days| days.iter().filter_map(|d| d["total"].as_i64()).sum())
        .unwrap_or_default();
    assert_eq!(Some(per_day), stats["total"].as_i64());
    let bank_stats = c.bank.get("/api/v1/branch/statistics").json();
    assert_eq!(bank_stats["totals"]["temporary-loss"], 1);
    assert_eq!(
        bank_stats["total"], 1,
        "the refused hand-over is not counted"
    );
    let peek = c.bank.get("/api/v1/branch/statistics?branch=XH01");
    assert_eq!(peek.status, 403, "{}", peek.text);
    let overseen = c.centre.get("/api/v1/branch/statistics?branch=XH01").json();
    assert_eq!(overseen["totals"], stats["totals"]);
    c.hub.assert_audit_intact();
}

#[test]
fn an_illegal_transition_is_refused_with_its_reason_and_writes_nothing() {
    let c = counters();
    let applied = resident_applies(&c, 41, "吴十", Some("13700137000"));
    let card = applied["card"]["id"].as_i64().expect("a card id");
    let before = (
        c.outbox().len(),
        c.audit_seq(),
        c.xh.get("/api/v1/branch/statistics").json()["total"].clone(),
        c.admin.get(&format!("/api/v1/cards/{card}")).json(),
    );
    let refused = op(&c.xh, card, "formal-loss");
    assert_eq!(refused.status, 409, "{}", refused.text);
    let body = refused.json();
    assert_eq!(body["error"], "illegal-transition");
    assert_eq!(body["detail"]["from"], "applied");
    assert_eq!(body["detail"]["to"], "formally-lost");
    assert!(
        body["detail"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("may go to"),
        "{body}"
    );
    // The statistics query itself is not a business operation.
    let after = (
        c.outbox().len(),
        c.audit_seq(),
        c.xh.get("/api/v1/branch/statistics").json()["total"].clone(),
        c.admin.get(&format!("/api/v1/cards/{card}")).json(),
    );
    assert_eq!(after, before);
    // An unknown operation is a bad request that says what is known.
    let unknown = op(&c.xh, card, "teleport");
    assert_eq!(unknown.status, 400, "{}", unknown.text);
    assert!(unknown.text.contains("temporary-loss"), "{}", unknown.text);
}

#[test]
fn personal_information_is_masked_for_branch_operators_and_every_query_is_audited() {
    let c = counters();
    let applied = resident_applies(&c, 51, "郑十一", Some("13600136000"));
    let number = resident_number(51);
    let masked =
        c.xh.get(&format!("/api/v1/branch/persons?document_number={number}"));
    assert_eq!(masked.status, 200, "{}", masked.text);
    let masked = masked.json();
    let row = &masked[0];
    assert_eq!(row["masked"], true);
    assert_eq!(row["name"], "郑**");
    assert_eq!(
        row["document_number"],
        format!("{}********{}", &number[..6], &number[14..])
    );
    assert_eq!(row["phone"], "136****6000");
    assert_eq!(row["address"], "上海市徐汇区*********");
    assert_eq!(row["cards"][0]["id"], applied["card"]["id"]);

    let whole = c
        .centre
        .get("/api/v1/branch/persons?phone=13600136000")
        .json();
    let row = &whole[0];
    assert_eq!(row["masked"], false);
    assert_eq!(row["name"], "郑十一");
    assert_eq!(row["document_number"], number);
    assert_eq!(row["phone"], "13600136000");
    assert_eq!(row["address"], "上海市徐汇区漕溪北路1200号");

    let nobody = c.xh.get("/api/v1/branch/persons?phone=13500000000");
    assert_eq!(nobody.status, 200);
    assert_eq!(nobody.json(), json!([]));

    // Who looked whom up, each time; never the number or phone asked for.
    let queries: Vec<(String, String, String)> = c
        .store
        .with_conn(|conn| {
            use cardhub_storage::schema::audit_log;
            audit_log::table
                .filter(audit_log::action.eq("person.query"))
                .order(audit_log::seq.asc())
                .select((audit_log::actor, audit_log::subject, audit_log::detail))
                .load(conn)
                .map_err(|e| cardhub_storage::StorageError::Database {
                    context: "read the audit log",
                    source: e,
                })
        })
        .expect("the audit log is read");
    let person = format!("person:{}", applied["person_id"]);
    assert_eq!(queries.len(), 3, "{queries:?}");
    assert_eq!(
        (queries[0].0.as_str(), queries[0].1.as_str()),
        ("desk-xh", person.as_str())
    );
    assert_eq!(
        (queries[1].0.as_str(), queries[1].1.as_str()),
        ("li", person.as_str())
    );
    assert_eq!(queries[2].1, "person:none");
    assert!(queries[0].2.contains("\"masked\":true"), "{}", queries[0].2);
    assert!(
        queries[1].2.contains("\"masked\":false"),
        "{}",
        queries[1].2
    );
    assert!(
        queries
            .iter()
            .all(|(_, _, d)| !d.contains(&number) && !d.contains("1360013"))
    );
    // Outside systems do not query persons.
    let created = c.hub.cli(
        &[
            "token",
            "create",
            "--name",
            "bank-x",
            "--role",
            "outside-system",
        ],
        None,
    );
    let outside = c
        .hub
        .http(Some(String::from_utf8_lossy(&created.stdout).trim()));
    assert_eq!(
        outside
            .get(&format!("/api/v1/branch/persons?document_number={number}"))
            .status,
        403
    );
}

/// The smallest JPEG the photo rules accept: SOI, APP0, a 358 x 441
/// baseline frame header, SOS, one byte of data, EOI.
fn jpeg() -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8];
    v.extend_from_slice(&[0xFF, 0xE0, 0x00, 0x07, b'J', b'F', b'I', b'F', 0x00]);
    v.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x0B, 0x08]);
    v.extend_from_slice(&441u16.to_be_bytes());
    v.extend_from_slice(&358u16.to_be_bytes());
    v.extend_from_slice(&[0x01, 0x01, 0x11, 0x00]);
    v.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x02, 0x00, 0xFF, 0xD9]);
    v
}

/// A signed upload, built from the layout the API documents (not from the
/// hub's code): "cardhub-machine-photo-v1", u64 BE length and machine id,
/// i64 BE application id, i64 BE signed time, SM3 of the JPEG; SM2 over
/// SM3 of that.
fn upload(key: &SigningKey, machine: &str, application: i64, at_ms: i64, jpeg: &[u8]) -> Value {
    let mut message = b"cardhub-machine-photo-v1".to_vec();
    message.extend_from_slice(&(machine.len() as u64).to_be_bytes());
    message.extend_from_slice(machine.as_bytes());
    message.extend_from_slice(&application.to_be_bytes());
    message.extend_from_slice(&at_ms.to_be_bytes());
    message.extend_from_slice(&sm3::digest(jpeg));
    let signature = key.sign(&sm3::digest(&message));
    use base64::Engine;
    json!({
        "application_id": application,
        "jpeg_base64": base64::engine::general_purpose::STANDARD.encode(jpeg),
        "signed_at_ms": at_ms,
        "signature_hex": hex_of(&signature),
    })
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn self_service_machines_are_registered_and_only_their_signed_uploads_accepted() {
    let c = counters();
    let key = SigningKey::generate();
    let machine = json!({
        "machine_id": "SSM-XH01-01",
        "branch_code": "XH01",
        "location": "大厅入口左侧",
        "public_key_hex": hex_of(&key.public_key()),
    });
    assert_eq!(c.xh.post("/api/v1/branch/machines", &machine).status, 403);
    let registered = c.centre.post("/api/v1/branch/machines", &machine);
    assert_eq!(registered.status, 201, "{}", registered.text);
    assert_eq!(registered.json()["status"], "active");
    assert_eq!(
        c.centre.post("/api/v1/branch/machines", &machine).status,
        409
    );
    let listed = c.centre.get("/api/v1/branch/machines?branch=XH01").json();
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    let moved = c.centre.patch(
        "/api/v1/branch/machines/SSM-XH01-01",
        &json!({ "location": "二楼等候区" }),
    );
    assert_eq!(moved.status, 200, "{}", moved.text);
    assert_eq!(
        c.centre.get("/api/v1/branch/machines/SSM-XH01-01").json()["location"],
        "二楼等候区"
    );

    let applied = resident_applies(&c, 61, "冯十二", None);
    let application = applied["application"]["id"].as_i64().expect("an id");
    let photo = jpeg();
    let anonymous = c.hub.http(None);
    let path = "/api/v1/branch/machines/SSM-XH01-01/photos";
    let now = || utc_now().and_utc().timestamp_millis();

    // Signed by another key: refused, nothing stored.
    let forged = anonymous.post(
        path,
        &upload(
            &SigningKey::generate(),
            "SSM-XH01-01",
            application,
            now(),
            &photo,
        ),
    );
    assert_eq!(forged.status, 403, "{}", forged.text);
    assert_eq!(forged.json()["detail"]["reason"], "bad-signature");
    // An unregistered machine: refused.
    let stranger = anonymous.post(
        "/api/v1/branch/machines/SSM-NOBODY/photos",
        &upload(&key, "SSM-NOBODY", application, now(), &photo),
    );
    assert_eq!(stranger.status, 403, "{}", stranger.text);
    assert_eq!(stranger.json()["detail"]["reason"], "not-registered");
    let stored = |store: &Store| {
        store
            .with_conn(|conn| cardhub_storage::photos::get_photo(conn, application))
            .expect("the photo is read")
    };
    assert!(stored(&c.store).is_none());

    // The registered machine's signed upload is stored for the application.
    let signed = upload(&key, "SSM-XH01-01", application, now(), &photo);
    let accepted = anonymous.post(path, &signed);
    assert_eq!(accepted.status, 201, "{}", accepted.text);
    assert_eq!(stored(&c.store).map(|p| p.jpeg), Some(photo.clone()));
    // The same upload again is a replay.
    let replayed = anonymous.post(path, &signed);
    assert_eq!(replayed.status, 403, "{}", replayed.text);
    assert_eq!(replayed.json()["detail"]["reason"], "replayed");
    // A suspended machine uploads nothing.
    let suspended = c.centre.patch(
        "/api/v1/branch/machines/SSM-XH01-01",
        &json!({ "status": "suspended" }),
    );
    assert_eq!(suspended.status, 200, "{}", suspended.text);
    let refused = anonymous.post(
        path,
        &upload(&key, "SSM-XH01-01", application, now(), &photo),
    );
    assert_eq!(refused.json()["detail"]["reason"], "suspended");

    assert_eq!(
        c.centre
            .delete("/api/v1/branch/machines/SSM-XH01-01")
            .status,
        204
    );
    assert_eq!(
        c.centre.get("/api/v1/branch/machines/SSM-XH01-01").status,
        404
    );
    let gone = anonymous.post(
        path,
        &upload(&key, "SSM-XH01-01", application, now(), &photo),
    );
    assert_eq!(gone.json()["detail"]["reason"], "not-registered");
    let actions: Vec<String> = c
        .store
        .with_conn(|conn| {
            use cardhub_storage::schema::audit_log;
            audit_log::table
                .filter(audit_log::action.like("machine.%"))
                .order(audit_log::seq.asc())
                .select(audit_log::action)
                .load(conn)
                .map_err(|e| cardhub_storage::StorageError::Database {
                    context: "read the audit log",
                    source: e,
                })
        })
        .expect("the audit log is read");
    assert_eq!(
        actions,
        [
            "machine.register",
            "machine.update",
            "machine.update",
            "machine.deregister"
        ]
    );
    c.hub.assert_audit_intact();
}
