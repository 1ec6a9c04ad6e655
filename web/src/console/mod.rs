//! The branch console (网点服务平台): the page an operator at a branch
//! counter works in, served at `/console` with its style sheet and script
//! (three files compiled into the binary, like the monitoring wall's: no
//! CDN, no build step, it works with no internet).
//!
//! The page holds no business rules. It logs in (`POST /api/v1/session`,
//! whose `cardhub_session` cookie then authenticates its fetches), loads
//! the counter's context (`GET /api/v1/branch/context`) and drives the
//! branch endpoints: the terminal's devices (`routes::branch_devices`:
//! ID card, photo, card check, PIN, instant issue), the counter's
//! business (`routes::branch`: applications, card operations, look-ups,
//! the application list and statistics) and a task's progress. Every
//! refusal is shown as the API's own `message`.
//!
//! It draws the centre's watermark (operator, branch, Shanghai time to the
//! minute) over every view once someone is logged in, and draws it again
//! when it is removed. The look is `page/console.css`, the behaviour
//! `page/console.js`; `tests/tests/console_flow.rs` drives it in headless
//! Chromium.

use actix_web::{HttpResponse, get};

const INDEX_HTML: &str = include_str!("page/index.html");
const CONSOLE_CSS: &str = include_str!("page/console.css");
const CONSOLE_JS: &str = include_str!("page/console.js");

/// The page may load only its own files and talk only to its own hub;
/// photos are shown from `data:` URLs.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> actix_web::HttpResponse {
    crate::monitor::page_file(content_type, CSP, body)
}

/// The branch console page. It asks for an operator login itself.
#[utoipa::path(
    get,
    path = "/console",
    tag = "branch",
    responses((status = 200, description = "The branch console page (HTML)", content_type = "text/html")),
)]
#[get("/console")]
pub async fn console_page() -> HttpResponse {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

/// The branch console's style sheet.
#[utoipa::path(get, path = "/console/console.css", tag = "branch",
    responses((status = 200, description = "CSS", content_type = "text/css")))]
#[get("/console/console.css")]
pub async fn console_css() -> HttpResponse {
    asset("text/css; charset=utf-8", CONSOLE_CSS)
}

/// The branch console's script.
#[utoipa::path(get, path = "/console/console.js", tag = "branch",
    responses((status = 200, description = "JavaScript", content_type = "text/javascript")))]
#[get("/console/console.js")]
pub async fn console_js() -> HttpResponse {
    asset("text/javascript; charset=utf-8", CONSOLE_JS)
}
