//! End to end: the real `cardhub` binary on its embedded default (SQLite in a
//! temporary directory), over real HTTP: health, access control, identity
//! check, operator login and lock-out, tokens, OpenAPI, metrics, graceful
//! shutdown and the start-up refusals of production mode.

use cardhub_protocols::identity::check_char;
use cardhub_tests::HubProcess;
use nix::sys::signal::Signal;
use serde_json::json;

#[test]
fn healthz_reports_database_and_actor_tree_without_credentials() {
    let hub = HubProcess::start();
    let reply = hub.http(None).get("/healthz");
    assert_eq!(reply.status, 200, "{}", reply.text);
    let body = reply.json();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"]["ok"], true);
    assert_eq!(body["database"]["backend"], "sqlite");
    assert_eq!(body["actors"]["ok"], true);
    assert!(
        hub.path("data/cardhub.db").exists(),
        "the SQLite file lives under data/"
    );
    assert!(
        hub.stdout_lines
            .iter()
            .any(|l| l.contains("data/dev-api-token")),
        "start-up says where the development token is: {:?}",
        hub.stdout_lines
    );
}

#[test]
fn every_protected_endpoint_says_what_is_missing() {
    let hub = HubProcess::start();
    let anonymous = hub.http(None);
    let reply = anonymous.post(
        "/api/v1/identity/check",
        &json!({"number": "11010519491231002X"}),
    );
    assert_eq!(reply.status, 401);
    let body = reply.json();
    assert_eq!(body["error"], "unauthenticated");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Authorization: Bearer"),
        "{body}"
    );

    let forged = hub.http(Some("chb_not-a-real-token"));
    let reply = forged.get("/api/v1/session");
    assert_eq!(reply.status, 401);
    assert!(
        reply.json()["message"]
            .as_str()
            .unwrap()
            .contains("unknown or revoked")
    );

    let garbage = hub.http(Some("hello"));
    assert_eq!(garbage.get("/api/v1/card-statuses").status, 401);
}

#[test]
fn identity_check_parses_or_names_the_precise_reason() {
    let hub = HubProcess::start();
    let http = hub.http(Some(&hub.dev_token()));

    let ok = http.post(
        "/api/v1/identity/check",
        &json!({"number": "932682198501010017"}),
    );
    assert_eq!(ok.status, 200, "{}", ok.text);
    let body = ok.json();
    assert_eq!(body["kind"], "permanent-residence-2023", "{body}");
    assert_eq!(body["birth_date"], "1985-01-01", "{body}");
    assert_eq!(body["nationality"]["numeric"], "682", "{body}");
    assert_eq!(body["document_type"], "外国人永久居留身份证", "{body}");

    let resident = http.post(
        "/api/v1/identity/check",
        &json!({"number": "11010519491231002X"}),
    );
    assert_eq!(resident.status, 200, "{}", resident.text);
    assert_eq!(resident.json()["kind"], "resident-id");

    // A well-formed number (right check digit) naming no nationality.
    let body = "93299919850101001";
    let unknown_nationality = format!("{body}{}", check_char(body).unwrap());
    for (number, reason) in [
        ("11010519491231002", "length"),
        ("1101051949123100A2", "character"),
        ("110105194912310021", "check-digit"),
        (unknown_nationality.as_str(), "nationality"),
    ] {
        let reply = http.post("/api/v1/identity/check", &json!({ "number": number }));
        assert_eq!(reply.status, 422, "{number}: {}", reply.text);
        let body = reply.json();
        assert_eq!(body["error"], "invalid-identity-number");
        assert_eq!(body["detail"]["reason"], reason, "{number}: {body}");
    }

    let malformed = http.post_raw("/api/v1/identity/check", "{\"number\": ");
    assert_eq!(malformed.status, 400);
    assert_eq!(malformed.json()["error"], "bad-request");
    let wrong_shape = http.post("/api/v1/identity/check", &json!({"num": "1"}));
    assert_eq!(wrong_shape.status, 400);
    assert!(
        wrong_shape.json()["message"]
            .as_str()
            .unwrap()
            .contains("num")
    );
}

#[test]
fn operator_logs_in_and_is_locked_after_repeated_failures() {
    let hub = HubProcess::start_with(&[("CARDHUB_AUTH__MAX_FAILED_LOGINS", "3")]);
    let anonymous = hub.http(None);

    let login = anonymous.post(
        "/api/v1/session",
        &json!({"username": "admin", "password": hub.dev_admin_password()}),
    );
    assert_eq!(login.status, 200, "{}", login.text);
    let session = login.json()["token"].as_str().unwrap().to_owned();
    assert!(session.starts_with("chs_"));
    let me = hub.http(Some(&session)).get("/api/v1/session");
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["name"], "admin");
    assert_eq!(me.json()["role"], "admin");

    // Logging out ends the session.
    assert_eq!(
        hub.http(Some(&session)).delete("/api/v1/session").status,
        204
    );
    assert_eq!(hub.http(Some(&session)).get("/api/v1/session").status, 401);

    // Unknown user and wrong password get the same answer.
    let unknown = anonymous.post(
        "/api/v1/session",
        &json!({"username": "nobody", "password": "x"}),
    );
    assert_eq!(unknown.status, 401);
    assert_eq!(unknown.json()["message"], "wrong username or password");

    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(
            anonymous
                .post(
                    "/api/v1/session",
                    &json!({"username": "admin", "password": "wrong"}),
                )
                .status,
        );
    }
    assert_eq!(
        statuses,
        [401, 401, 429],
        "the third failure locks the account"
    );
    // Now even the right password is refused until the lock ends.
    let locked = anonymous.post(
        "/api/v1/session",
        &json!({"username": "admin", "password": hub.dev_admin_password()}),
    );
    assert_eq!(locked.status, 429, "{}", locked.text);
    assert!(
        locked.json()["message"]
            .as_str()
            .unwrap()
            .contains("locked")
    );

    // The failures are in the audit log, and the chain is intact.
    hub.assert_audit_intact();
}

#[test]
fn tokens_are_created_listed_used_and_revoked_from_the_command_line() {
    let hub = HubProcess::start();
    let created = hub.cli(
        &["token", "create", "--name", "wall-1", "--role", "screen"],
        None,
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let token = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("chb_"), "{token}");

    let screen = hub.http(Some(&token));
    let me = screen.get("/api/v1/session");
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["role"], "screen");

    // A screen may read but not move cards: 403 names the role needed.
    let forbidden = screen.post(
        "/api/v1/cards/1/transitions",
        &json!({"to": "temporarily-lost"}),
    );
    assert_eq!(forbidden.status, 403, "{}", forbidden.text);
    assert_eq!(forbidden.json()["detail"]["have"], "screen");

    let list = hub.cli(&["token", "list"], None);
    let listing = String::from_utf8(list.stdout).unwrap();
    assert!(
        listing.contains("wall-1") && listing.contains("screen"),
        "{listing}"
    );
    assert!(!listing.contains(&token), "the list never shows secrets");

    let revoked = hub.cli(&["token", "revoke", "--name", "wall-1"], None);
    assert!(revoked.status.success());
    assert_eq!(screen.get("/api/v1/session").status, 401);

    let bad_role = hub.cli(&["token", "create", "--name", "x", "--role", "root"], None);
    assert!(!bad_role.status.success());
    assert!(String::from_utf8_lossy(&bad_role.stderr).contains("unknown role"));
}

#[test]
fn openapi_document_lists_exactly_the_routes_that_answer() {
    let hub = HubProcess::start();
    let http = hub.http(Some(&hub.dev_token()));
    let doc = http.get("/api/v1/openapi.json");
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    let paths = doc["paths"].as_object().expect("paths");
    for expected in [
        "/healthz",
        "/metrics",
        "/api/v1/openapi.json",
        "/api/v1/identity/check",
        "/api/v1/session",
        "/api/v1/card-statuses",
        "/api/v1/cards/{id}",
        "/api/v1/cards/{id}/history",
        "/api/v1/cards/{id}/transitions",
    ] {
        assert!(
            paths.contains_key(expected),
            "{expected} missing from the OpenAPI document"
        );
    }
    // Every documented operation is served: none falls through to the
    // catch-all "no endpoint" answer.
    for (path, item) in paths {
        let concrete = path.replace("{id}", "1");
        for method in item.as_object().unwrap().keys() {
            let reply = match method.as_str() {
                "get" => http.get(&concrete),
                "delete" => continue, // would end the session under test
                "post" => http.post(&concrete, &json!({})),
                "patch" => http.patch(&concrete, &json!({})),
                other => panic!("unexpected method {other} for {path}"),
            };
            let unrouted = reply.status == 404 && reply.text.contains("no endpoint");
            assert!(!unrouted, "{method} {path} is documented but not served");
        }
    }
    // And an undocumented path is the catch-all.
    let nothing = http.get("/api/v1/nothing-here");
    assert_eq!(nothing.status, 404);
    assert!(nothing.text.contains("no endpoint"));
}

#[test]
fn metrics_count_requests_by_route_and_status() {
    let hub = HubProcess::start();
    let http = hub.http(None);
    assert_eq!(http.get("/healthz").status, 200);
    assert_eq!(
        http.post("/api/v1/identity/check", &json!({"number": "1"}))
            .status,
        401
    );
    let metrics = http.get("/metrics");
    assert_eq!(metrics.status, 200);
    let text = metrics.text;
    assert!(
        text.lines()
            .any(|l| l.starts_with("cardhub_http_requests_total")
                && l.contains("route=\"/healthz\"")
                && l.contains("status=\"200\"")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("cardhub_http_requests_total")
                && l.contains("route=\"/api/v1/identity/check\"")
                && l.contains("status=\"401\"")),
        "{text}"
    );
    assert!(
        text.contains("cardhub_db_query_seconds"),
        "database latency is measured: {text}"
    );
}

#[test]
fn metrics_need_a_token_when_not_public() {
    let hub = HubProcess::start_with(&[("CARDHUB_HTTP__METRICS_PUBLIC", "false")]);
    assert_eq!(hub.http(None).get("/metrics").status, 401);
    assert_eq!(hub.http(Some(&hub.dev_token())).get("/metrics").status, 200);
}

#[test]
fn sigterm_and_sigint_stop_the_hub_cleanly_and_data_survives() {
    let mut hub = HubProcess::start();
    let token = hub.dev_token();
    assert_eq!(hub.stop(Signal::SIGTERM).code(), Some(0));

    // Restart on the same data: the same token still works (it was kept),
    // and the database was closed cleanly.
    let dir = hub.into_dir();
    let mut again = HubProcess::start_in(dir, &[]);
    assert_eq!(again.dev_token(), token);
    assert_eq!(again.http(Some(&token)).get("/api/v1/session").status, 200);
    assert_eq!(again.stop(Signal::SIGINT).code(), Some(0));
}

#[test]
fn production_refuses_to_start_without_real_keys_and_creates_no_dev_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let env = vec![("CARDHUB_MODE".to_owned(), "production".to_owned())];
    let out = cardhub_tests::run_cli(dir.path(), &env, &["serve"], None);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("key file") && err.contains("does not exist"),
        "{err}"
    );
    assert!(!dir.path().join("data/dev-api-token").exists());

    // A development key file is refused in production too.
    let dev = HubProcess::start();
    let dev_dir = dev.into_dir();
    let out = cardhub_tests::run_cli(dev_dir.path(), &env, &["serve"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("development key file"));
}

#[test]
fn bad_configuration_is_refused_with_file_key_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("site.toml");
    std::fs::write(&file, "[http]\nbind = \"127.0.0.1:8080\"\nworkerz = 4\n").unwrap();
    let out = cardhub_tests::run_cli(
        dir.path(),
        &[],
        &["serve", "--config", file.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("site.toml") && err.contains("workerz"),
        "{err}"
    );

    let env = vec![("CARDHUB_DATABASE__POOL_SIZE".to_owned(), "lots".to_owned())];
    let out = cardhub_tests::run_cli(dir.path(), &env, &["db", "migrate"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CARDHUB_DATABASE__POOL_SIZE"));
}

#[test]
fn operators_are_created_from_the_command_line_and_can_log_in() {
    let hub = HubProcess::start();
    let short = hub.cli(
        &[
            "operator",
            "create",
            "--username",
            "li.wei",
            "--role",
            "centre-staff",
        ],
        Some("short\n"),
    );
    assert_eq!(short.status.code(), Some(2), "a short password is refused");
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 12 characters"));

    let created = hub.cli(
        &[
            "operator",
            "create",
            "--username",
            "li.wei",
            "--display-name",
            "李伟",
            "--role",
            "centre-staff",
        ],
        Some("correct horse battery staple\n"),
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );

    let login = hub.http(None).post(
        "/api/v1/session",
        &json!({"username": "li.wei", "password": "correct horse battery staple"}),
    );
    assert_eq!(login.status, 200, "{}", login.text);
    assert_eq!(login.json()["operator"]["role"], "centre-staff");

    let listed = String::from_utf8(hub.cli(&["operator", "list"], None).stdout).unwrap();
    assert!(
        listed.contains("li.wei") && listed.contains("李伟"),
        "{listed}"
    );
    hub.assert_audit_intact();
}
