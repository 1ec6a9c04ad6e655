//! The branch console (网点服务平台) in a real browser (Debian's headless
//! Chromium over the DevTools protocol) against the real hub and a real
//! `cardhub terminal` carrying a simulated ID card reader and camera over
//! `/ws/terminal`: a branch operator of a community centre logs in through
//! the form; the centre's watermark (operator, branch, Shanghai time) is
//! over the screen and comes back when it is removed or tampered with; a
//! 2023 permanent-residence card is read, the photo taken, the
//! application (申领) submitted and seen in the branch's list; card
//! services show an illegal transition's 409 message verbatim; the query
//! view masks the holder; statistics count the day's business; the
//! device screens and the instant issue show the hub's refusals; logout
//! takes the watermark away. Screenshots go to
//! `target/test-artefacts/console-*.png`.

use std::time::Duration;

use cardhub_protocols::roles::Role;
use cardhub_storage::Actor;
use cardhub_storage::branches::{self, BranchKind, NewBranch};
use cardhub_tests::branch::{TerminalDevices, TerminalProcess, sim_camera, sim_id_reader};
use cardhub_tests::browser::Browser;
use cardhub_tests::{HubProcess, artefact_dir};
use serde_json::{Value, json};

const BRANCH_CODE: &str = "PD07";
const BRANCH_NAME: &str = "浦东新区陆家嘴社区事务受理服务中心";
const OPERATOR: &str = "wang.fang";
const OPERATOR_NAME: &str = "王芳";
const PASSWORD: &str = "counter-password-2026";
const TERMINAL: &str = "T-PD07-01";

/// The sample card `cardhub sim id-reader --card permanent-2023` holds.
const PERMIT_NUMBER: &str = "932682198501010017";
const PERMIT_CHINESE_NAME: &str = "阿卜杜拉";
const PERMIT_ENGLISH_NAME: &str = "ABDULLAH MOHAMMED BIN SALMAN AL SAUD KHALID";
/// Long enough for an ID read through the terminal on a loaded machine.
const DEVICE_TIMEOUT: Duration = Duration::from_secs(40);
/// Long enough for a request that only touches the database.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// A JavaScript string literal.
fn js(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

/// The console page in the browser, with the few moves the flow makes.
struct Console {
    browser: Browser,
}

impl Console {
    fn eval(&mut self, expression: &str) -> Value {
        self.browser.eval(expression).unwrap_or_else(|e| {
            panic!("{e}\n`{expression}`\nconsole: {:?}", self.browser.console())
        })
    }

    fn wait(&mut self, expression: &str, timeout: Duration, what: &str) {
        if let Err(e) = self.browser.wait_for(expression, timeout) {
            let _ = self
                .browser
                .screenshot(&artefact_dir().join("console-failure.png"));
            panic!("{what}: {e}");
        }
    }

    /// Sets a form field as a person would and fires its events.
    fn fill(&mut self, selector: &str, value: &str) {
        self.eval(&format!(
            "(() => {{ const e = document.querySelector({}); e.value = {}; \
             e.dispatchEvent(new Event('input', {{bubbles: true}})); \
             e.dispatchEvent(new Event('change', {{bubbles: true}})); return true; }})()",
            js(selector),
            js(value)
        ));
    }

    fn text(&mut self, selector: &str) -> String {
        self.eval(&format!(
            "document.querySelector({}).textContent",
            js(selector)
        ))
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    fn visible(&mut self, selector: &str) -> bool {
        self.eval(&format!(
            "(() => {{ const e = document.querySelector({}); return !!e && !e.hidden && e.offsetParent !== null; }})()",
            js(selector)
        )) == Value::Bool(true)
    }

    fn tab(&mut self, view: &str) {
        self.eval(&format!(
            "document.querySelector('#tabs button[data-view={view}]').click()"
        ));
        self.wait(
            &format!("document.body.dataset.view === '{view}'"),
            REQUEST_TIMEOUT,
            "the tab opens",
        );
    }

    /// Clicks `button`, checks it is disabled while its request runs, waits
    /// for every request to finish, and returns the view's error box text
    /// when one is shown.
    fn press(&mut self, button: &str, error: &str, timeout: Duration) -> Option<String> {
        let disabled = self.eval(&format!(
            "(() => {{ const b = document.querySelector({}); b.click(); return b.disabled; }})()",
            js(button)
        ));
        assert_eq!(
            disabled,
            Value::Bool(true),
            "{button} is disabled while its request runs"
        );
        self.wait(
            "document.body.dataset.busy === '0'",
            timeout,
            &format!("the request of {button} finishes"),
        );
        self.visible(error).then(|| self.text(error))
    }

    fn shot(&mut self, name: &str) {
        self.browser
            .screenshot(&artefact_dir().join(format!("console-{name}.png")))
            .expect("a screenshot");
    }

    /// What the watermark layer is: its text, tiles, style and extent.
    fn watermark(&mut self) -> Value {
        self.eval(
            r#"(() => {
              const w = document.getElementById('watermark');
              if (!w) return null;
              const tiles = Array.from(w.querySelectorAll('span'));
              const cs = getComputedStyle(w);
              const ts = getComputedStyle(tiles[0]);
              const rects = tiles.map((t) => t.getBoundingClientRect());
              const centres = rects.map((r) => [(r.left + r.right) / 2, (r.top + r.bottom) / 2]);
              const W = innerWidth, H = innerHeight;
              const quadrants = [[0, 0], [1, 0], [0, 1], [1, 1]].every(([qx, qy]) =>
                centres.some(([x, y]) => x >= qx * W / 2 && x < (qx + 1) * W / 2 && y >= qy * H / 2 && y < (qy + 1) * H / 2));
              const hit = document.elementFromPoint(W / 2, H / 2);
              return {
                text: w.dataset.text,
                tiles: tiles.length,
                every_tile: tiles.every((t) => t.textContent === w.dataset.text),
                on_body: w.parentNode === document.body,
                position: cs.position,
                z: cs.zIndex,
                pointer: cs.pointerEvents,
                select: cs.userSelect,
                tile_select: ts.userSelect,
                colour: ts.color,
                transform: ts.transform,
                quadrants,
                left: Math.min(...rects.map((r) => r.left)),
                top: Math.min(...rects.map((r) => r.top)),
                right: Math.max(...rects.map((r) => r.right)) - W,
                bottom: Math.max(...rects.map((r) => r.bottom)) - H,
                hit_is_watermark: !!hit && !!hit.closest('#watermark'),
              };
            })()"#,
        )
    }
}

/// The minutes, Shanghai time (UTC+8, no daylight saving), the watermark
/// may show now: this minute or, just after a rollover, the one before.
fn shanghai_minutes() -> [String; 2] {
    let now = chrono::Utc::now() + chrono::TimeDelta::hours(8);
    let format = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M").to_string();
    [format(now), format(now - chrono::TimeDelta::minutes(1))]
}

fn assert_watermark(w: &Value, what: &str) {
    assert!(!w.is_null(), "{what}: the watermark is on the screen");
    let text = w["text"].as_str().unwrap_or_default();
    assert!(
        text.contains(OPERATOR_NAME),
        "{what}: the operator's name: {w}"
    );
    assert!(text.contains(BRANCH_NAME), "{what}: the branch's name: {w}");
    let minutes = shanghai_minutes();
    assert!(
        minutes.iter().any(|m| text.contains(m.as_str())),
        "{what}: the Shanghai time to the minute ({minutes:?}): {w}"
    );
    assert_eq!(w["every_tile"], true, "{what}: every tile carries it: {w}");
    assert_eq!(w["on_body"], true, "{what}: {w}");
    assert_eq!(w["position"], "fixed", "{what}: {w}");
    assert_eq!(w["z"], "2147483647", "{what}: over everything: {w}");
    assert_eq!(w["pointer"], "none", "{what}: it takes no clicks: {w}");
    assert_eq!(w["select"], "none", "{what}: it cannot be selected: {w}");
    assert_eq!(w["tile_select"], "none", "{what}: {w}");
    assert!(
        w["colour"]
            .as_str()
            .unwrap_or_default()
            .starts_with("rgba("),
        "{what}: semi-transparent: {w}"
    );
    assert!(
        w["transform"].as_str().unwrap_or("none") != "none",
        "{what}: diagonal: {w}"
    );
    assert_eq!(
        w["quadrants"], true,
        "{what}: tiled over the whole viewport: {w}"
    );
    for edge in ["left", "top", "right", "bottom"] {
        let overshoot = w[edge].as_f64().unwrap_or(f64::NAN);
        let covered = if edge == "left" || edge == "top" {
            overshoot <= 0.0
        } else {
            overshoot >= 0.0
        };
        assert!(covered, "{what}: the tiles reach the {edge} edge: {w}");
    }
    assert_eq!(
        w["hit_is_watermark"], false,
        "{what}: a click goes through it: {w}"
    );
}

/// A community branch and its operator, created as the centre would.
fn branch_and_operator(hub: &HubProcess) {
    let store = hub.open_store();
    let hsm = store.hsm().clone();
    let admin = Actor::new("console-test", Role::Admin);
    store
        .with_conn(|conn| {
            branches::create(
                conn,
                hsm.as_ref(),
                &NewBranch {
                    code: BRANCH_CODE.into(),
                    name: BRANCH_NAME.into(),
                    kind: BranchKind::Community,
                },
                &admin,
            )
        })
        .expect("the branch is created");
    let created = hub.cli(
        &[
            "operator",
            "create",
            "--username",
            OPERATOR,
            "--display-name",
            OPERATOR_NAME,
            "--role",
            "branch-operator",
            "--branch",
            BRANCH_CODE,
        ],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(
        created.status.success(),
        "operator create: {}",
        String::from_utf8_lossy(&created.stderr)
    );
}

#[test]
fn a_branch_operator_logs_in_under_the_watermark_reads_a_permit_takes_the_photo_and_applies() {
    let hub = HubProcess::start();
    branch_and_operator(&hub);
    let reader = sim_id_reader("permanent-2023");
    let camera = sim_camera();
    let devices = TerminalDevices {
        id_readers: vec![("id-reader-1".into(), reader.field("pty").to_owned())],
        cameras: vec![("camera-1".into(), camera.field("address").to_owned())],
        ..TerminalDevices::default()
    };
    let terminal_dir = tempfile::tempdir().unwrap();
    let mut terminal = TerminalProcess::register_and_start(
        &hub,
        terminal_dir.path(),
        TERMINAL,
        BRANCH_CODE,
        &devices,
    );
    terminal.wait_linked();

    // The page's three files, compiled in, each under the page's policy.
    for (path, kind) in [
        ("/console", "text/html"),
        ("/console/console.css", "text/css"),
        ("/console/console.js", "text/javascript"),
    ] {
        let reply = hub.http(None).get(path);
        assert_eq!(reply.status, 200, "{path}: {}", reply.text);
        let content_type = reply.content_type.unwrap_or_default();
        assert!(content_type.starts_with(kind), "{path}: {content_type}");
    }

    let browser = Browser::launch(1600, 1000)
        .unwrap_or_else(|e| panic!("{e} (make test installs Debian's chromium)"));
    let mut page = Console { browser };
    page.browser
        .goto(&format!("{}/console", hub.base))
        .expect("the console page loads");
    page.wait(
        "!document.getElementById('login').hidden",
        REQUEST_TIMEOUT,
        "the login form is shown",
    );
    assert!(
        page.eval("document.getElementById('watermark')").is_null(),
        "no watermark before anyone has logged in"
    );

    // A wrong password: the hub's message, verbatim.
    page.fill("#login-username", OPERATOR);
    page.fill("#login-password", "not the password at all");
    let refused = page.press("#login-submit", "#login-error", REQUEST_TIMEOUT);
    assert_eq!(
        refused.as_deref(),
        Some("wrong username or password"),
        "the login refusal is the API's message"
    );
    page.shot("login");

    page.fill("#login-password", PASSWORD);
    assert_eq!(
        page.press("#login-submit", "#login-error", REQUEST_TIMEOUT),
        None
    );
    page.wait(
        "document.body.dataset.state === 'logged-in'",
        REQUEST_TIMEOUT,
        "the console opens after login",
    );
    assert_eq!(page.text("#ctx-operator"), OPERATOR_NAME);
    assert_eq!(page.text("#ctx-branch-name"), BRANCH_NAME);
    assert_eq!(page.text("#ctx-branch-code"), BRANCH_CODE);

    // The watermark: present, right, and back when removed or tampered
    // with.
    let w = page.watermark();
    assert_watermark(&w, "after login");
    for (tamper, what) in [
        ("document.getElementById('watermark').remove()", "removed"),
        (
            "document.getElementById('watermark').style.display = 'none'",
            "hidden",
        ),
        (
            "document.querySelector('#watermark span').textContent = ''",
            "a tile emptied",
        ),
        (
            "document.getElementById('watermark').replaceChildren()",
            "emptied",
        ),
    ] {
        page.eval(tamper);
        page.wait(
            "(() => { const w = document.getElementById('watermark'); \
             return !!w && w.style.display === '' && w.querySelectorAll('span').length > 0 \
             && Array.from(w.querySelectorAll('span')).every((t) => t.textContent === w.dataset.text); })()",
            Duration::from_secs(5),
            &format!("the watermark comes back when {what}"),
        );
        assert_watermark(&page.watermark(), &format!("after it was {what}"));
    }
    // 1. Read the permanent-residence card through the terminal.
    page.fill("#terminal", TERMINAL);
    assert_eq!(
        page.eval("localStorage.getItem('cardhub.console.terminal')"),
        json!(TERMINAL),
        "the terminal is remembered"
    );
    let read_error = page.press("#read-submit", "#view-read [data-error]", DEVICE_TIMEOUT);
    assert_eq!(read_error, None, "the card is read");
    assert_eq!(page.text("#read-number"), PERMIT_NUMBER);
    assert_eq!(page.text("#read-chinese-name"), PERMIT_CHINESE_NAME);
    assert!(
        page.text("#read-kind").contains("2023"),
        "{}",
        page.text("#read-kind")
    );
    assert!(page.text("#read-nationality").starts_with("682"));
    assert_eq!(
        page.eval("document.getElementById('read-check').dataset.ok"),
        "true"
    );
    page.shot("read-card");

    // 2. The photo.
    page.tab("photo");
    let photo_error = page.press("#photo-submit", "#view-photo [data-error]", DEVICE_TIMEOUT);
    assert_eq!(photo_error, None, "the photo is taken");
    page.wait(
        "document.getElementById('photo-img').complete && document.getElementById('photo-img').naturalWidth === 358",
        REQUEST_TIMEOUT,
        "the JPEG is shown",
    );
    assert!(
        page.text("#photo-size").contains("358 × 441"),
        "{}",
        page.text("#photo-size")
    );
    page.shot("photo");

    // 3. The application, prefilled from the read and the photo.
    page.tab("apply");
    let form = |field: &str| format!("#apply-form [name={field}]");
    let value = |page: &mut Console, field: &str| {
        page.eval(&format!(
            "document.querySelector({}).value",
            js(&form(field))
        ))
    };
    assert_eq!(value(&mut page, "document_type"), "permanent-residence");
    assert_eq!(value(&mut page, "document_number"), PERMIT_NUMBER);
    assert_eq!(value(&mut page, "permit_chinese_name"), PERMIT_CHINESE_NAME);
    assert_eq!(value(&mut page, "nationality"), "682");
    assert_eq!(
        value(&mut page, "ethnicity"),
        "97",
        "ethnicity defaults to 其他"
    );
    assert!(
        page.visible(&form("permit_chinese_name")),
        "the permit fields are shown"
    );
    // A permit holder is registered under the English name on the card,
    // prefilled from the read.
    assert_eq!(
        value(&mut page, "name"),
        PERMIT_ENGLISH_NAME,
        "the English name is prefilled"
    );
    page.fill(&form("ethnicity"), "98");
    page.fill(&form("phone"), "13812345678");
    page.fill(&form("address"), "上海市浦东新区陆家嘴环路1000号");
    // The evidence is the read the hub recorded (its answer carries
    // `id_read_id`): this operator may not enter applications by hand.
    let read = page.eval("window.cardhubConsole.read()");
    assert!(read["id_read_id"].is_i64(), "the read is recorded: {read}");
    let apply_error = page.press("#apply-submit", "#view-apply [data-error]", REQUEST_TIMEOUT);
    assert_eq!(apply_error, None, "the application is accepted");
    let accepted = page.eval("window.cardhubConsole.application()");
    let application_id = accepted["application"]["id"]
        .as_i64()
        .expect("an application id");
    let card_id = accepted["card"]["id"].as_i64().expect("a card id");
    assert_eq!(accepted["evidence"]["entry"], "id-read", "{accepted}");
    assert_eq!(accepted["registered"]["name"], PERMIT_ENGLISH_NAME);
    assert_eq!(accepted["registered"]["chinese_name"], PERMIT_CHINESE_NAME);
    assert_eq!(accepted["registered"]["ethnicity"], 98);
    assert!(
        page.text("#apply-result")
            .contains(&format!("#{application_id}"))
    );
    page.shot("application");

    // 7. It is in the branch's list (the holder's name masked).
    page.tab("query");
    page.wait(
        &format!(
            "document.querySelector('#apps tr[data-application=\"{application_id}\"]') !== null"
        ),
        REQUEST_TIMEOUT,
        "the application is in the branch's list",
    );
    let row = page.text(&format!("#apps tr[data-application=\"{application_id}\"]"));
    assert!(row.contains("首次申领"), "{row}");
    assert!(
        row.contains("A***"),
        "the name is masked for a branch operator: {row}"
    );
    assert!(!row.contains("ABDULLAH"), "{row}");

    // The holder look-up, masked.
    page.fill("#person-form [name=value]", PERMIT_NUMBER);
    assert_eq!(
        page.press("#person-submit", "[data-error=person]", REQUEST_TIMEOUT),
        None
    );
    let person = page.text("#person-result");
    assert!(person.contains("932682********0017"), "{person}");
    assert!(person.contains("138****5678"), "{person}");
    assert!(person.contains("已脱敏"), "{person}");
    assert!(!person.contains(PERMIT_NUMBER), "{person}");

    // Statistics count today's application.
    assert_eq!(
        page.press("#stats-submit", "[data-error=stats]", REQUEST_TIMEOUT),
        None
    );
    let first_issues = page.text("#stats-table th[data-kind=first-issue]");
    assert_eq!(first_issues, "1", "one first issue today");
    page.shot("query");

    // 4. Card services: the new card, and an illegal move refused with the
    // hub's own message.
    page.tab("cards");
    page.fill("#cards-form [name=document_number]", PERMIT_NUMBER);
    assert_eq!(
        page.press("#cards-submit", "#view-cards [data-error]", REQUEST_TIMEOUT),
        None
    );
    let card_row = format!("#cards-result tr[data-card=\"{card_id}\"]");
    assert!(
        page.text(&card_row).contains("applied"),
        "{}",
        page.text(&card_row)
    );
    // What the hub answers the same request, asked beside the page.
    let login = hub.http(None).post(
        "/api/v1/session",
        &json!({ "username": OPERATOR, "password": PASSWORD }),
    );
    let token = login.json()["token"].as_str().unwrap().to_owned();
    let expected = hub.http(Some(&token)).post(
        &format!("/api/v1/branch/cards/{card_id}/temporary-loss"),
        &json!({}),
    );
    assert_eq!(expected.status, 409, "{}", expected.text);
    let expected = expected.json()["message"].as_str().unwrap().to_owned();
    let refused = page.press(
        &format!("{card_row} button[data-op=temporary-loss]"),
        "#view-cards [data-error]",
        REQUEST_TIMEOUT,
    );
    assert_eq!(
        refused.as_deref(),
        Some(expected.as_str()),
        "the 409 verbatim"
    );
    page.shot("card-services");

    // 5. Card check and PIN: this terminal has no card reader; the hub
    // says so and the page shows it.
    page.tab("chip");
    page.fill("#check-form [name=card_id]", &card_id.to_string());
    let check = page.press("#check-submit", "[data-error=check]", DEVICE_TIMEOUT);
    assert!(
        check.as_deref().is_some_and(|m| !m.is_empty()),
        "the check's refusal is shown"
    );
    page.fill("#pin-form [name=operation]", "unblock");
    let pin = page.press("#pin-submit", "[data-error=pin]", DEVICE_TIMEOUT);
    assert!(
        pin.as_deref().is_some_and(|m| !m.is_empty()),
        "the PIN refusal is shown"
    );
    page.shot("check-pin");

    // 6. Instant replacement: this branch has no instant-issue printer.
    page.tab("instant");
    assert_eq!(
        page.eval("document.querySelector('#instant-form [name=application_id]').value"),
        json!(application_id.to_string()),
        "the accepted application is offered"
    );
    let instant = page.press(
        "#instant-submit",
        "#view-instant [data-error]",
        REQUEST_TIMEOUT,
    );
    assert!(
        instant
            .as_deref()
            .is_some_and(|m| m.contains("no instant-issue printer")),
        "{instant:?}"
    );
    page.shot("instant");

    // The session ends behind the page's back: the next request brings
    // the login back, under the watermark, and logging in again carries on.
    page.tab("query");
    page.eval("fetch('/api/v1/session', {method: 'DELETE', credentials: 'same-origin'}).then((r) => r.status)");
    let lost = page.press("#stats-submit", "[data-error=stats]", REQUEST_TIMEOUT);
    assert!(lost.is_some(), "the 401 is shown in the view too");
    page.wait(
        "!document.getElementById('login').hidden",
        REQUEST_TIMEOUT,
        "the login comes back when the session ends",
    );
    let why = page.text("#login-error");
    assert!(
        why.starts_with("会话已失效") && why.ends_with(lost.as_deref().unwrap_or("-")),
        "the login says the session ended, in the hub's words: {why}"
    );
    assert_watermark(&page.watermark(), "over the login after the session ended");
    page.shot("session-ended");
    page.fill("#login-username", OPERATOR);
    page.fill("#login-password", PASSWORD);
    assert_eq!(
        page.press("#login-submit", "#login-error", REQUEST_TIMEOUT),
        None
    );
    page.wait(
        "document.getElementById('login').hidden",
        REQUEST_TIMEOUT,
        "logged in again",
    );
    assert_eq!(
        page.press("#stats-submit", "[data-error=stats]", REQUEST_TIMEOUT),
        None
    );

    // The watermark is still over every view; logging out takes it away.
    page.tab("read");
    assert_watermark(&page.watermark(), "at the end");
    page.eval("document.getElementById('logout').click()");
    page.wait(
        "document.body.dataset.state === 'logged-out' && document.getElementById('watermark') === null \
         && !document.getElementById('login').hidden",
        REQUEST_TIMEOUT,
        "logging out shows the login and no watermark",
    );
    let after = hub.http(None).get("/api/v1/branch/context");
    assert_eq!(after.status, 401, "no credentials: {}", after.text);
    drop(terminal);
    hub.assert_audit_intact();
}
