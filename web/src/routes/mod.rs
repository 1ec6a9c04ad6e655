//! The HTTP API: every route, registered through `utoipa-actix-web` so the
//! OpenAPI document (`GET /api/v1/openapi.json`) is generated from the same
//! registrations that serve requests and cannot drift from them.
//!
//! One module per area: [`health`] (`/healthz`, `/metrics`), [`identity`],
//! [`session`] (operator login), [`cards`] (the card status machine),
//! [`chip`] (readers and chip jobs), [`applications`] (accepting a person
//! and an application), [`workshop`] (extraction, production lines,
//! progress, waste and performance, envelopes, boxes and dispatch),
//! [`branch_devices`] (a branch counter's devices through its terminal),
//! [`branch`] (branch business at the counter, self-service machines),
//! [`terminals`] (branch terminals' registrations, sessions and probes).

pub mod applications;
pub mod branch;
pub mod branch_devices;
pub mod cards;
pub mod chip;
pub mod health;
pub mod identity;
pub mod session;
pub mod terminals;
pub mod workshop;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpResponse, middleware, web};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::{AppExt, UtoipaApp, scope};

use crate::auth::Caller;
use crate::error;
use crate::monitor;
use crate::state::AppState;
use crate::telemetry;

/// The OpenAPI document's fixed parts; paths and schemas are collected from
/// the registered handlers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "cardhub",
        description = "The device and integration hub of a social security card centre: HTTP API for outside systems, operators and screens."
    ),
    modifiers(&BearerScheme),
    tags(
        (name = "health", description = "Liveness, readiness and metrics"),
        (name = "identity", description = "Identity numbers"),
        (name = "session", description = "Operator login and logout"),
        (name = "cards", description = "Cards and the card status machine"),
        (name = "chip", description = "Card readers, personalisation, card checks and PIN operations"),
        (name = "applications", description = "Persons and card applications (申领)"),
        (name = "branch", description = "Branch business (网点业务): the counter's context, applications, card operations, personal information queries, statistics, the self-service machine register"),
        (name = "workshop", description = "The workshop (制卡车间): extraction, tasks, production lines, progress, waste, performance, envelopes, boxes and dispatch"),
        (name = "terminals", description = "Branch terminals (网点终端): registrations, their link /ws/terminal (docs/terminal-protocol.md), sessions, devices and probes"),
        (name = "monitor", description = "The monitoring wall (应用系统监控管理平台): the page, its WebSocket /ws/monitor (docs/monitor-protocol.md), the status snapshot and the alerts"),
    ),
    components(schemas(
        cardhub_actors::status::ClientMessage,
        cardhub_actors::status::ServerMessage,
        cardhub_actors::status::Entity,
        cardhub_actors::status::Filter,
        cardhub_protocols::terminal::TerminalMessage,
        cardhub_protocols::terminal::HubMessage,
    ))
)]
struct ApiDoc;

/// Declares the `bearer` security scheme the handlers name.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::builder().scheme(HttpAuthScheme::Bearer).description(Some(
                "An API token (`chb_...`, from `cardhub token create`) or an operator session (`chs_...`, from POST /api/v1/session)",
            )).build()),
        );
    }
}

/// Registers every documented route on a utoipa app.
fn register<T>(app: UtoipaApp<T>) -> UtoipaApp<T>
where
    T: ServiceFactory<ServiceRequest, Config = (), Error = actix_web::Error, InitError = ()>,
{
    app.service(health::healthz)
        .service(health::metrics)
        .service(monitor::wall_page)
        .service(monitor::wall_css)
        .service(monitor::wall_js)
        .service(monitor::socket::monitor)
        .service(crate::console::console_page)
        .service(crate::console::console_css)
        .service(crate::console::console_js)
        .service(crate::terminal::socket::connect)
        .service(
            scope("/api/v1")
                .service(identity::check)
                .service(session::login)
                .service(session::whoami)
                .service(session::logout)
                .service(cards::statuses)
                .service(cards::get_card)
                .service(cards::history)
                .service(cards::transition)
                .service(chip::readers)
                .service(chip::personalise)
                .service(chip::check)
                .service(chip::pin_operation)
                .service(chip::get_job)
                .service(chip::card_chip)
                .service(applications::accept)
                .service(applications::get_application)
                .service(workshop::tasks::extract)
                .service(workshop::tasks::batches)
                .service(workshop::tasks::list)
                .service(workshop::tasks::get_task)
                .service(workshop::tasks::fail)
                .service(workshop::tasks::retry)
                .service(workshop::tasks::queue)
                .service(workshop::progress::of_card)
                .service(workshop::progress::lookup)
                .service(workshop::lines::list)
                .service(workshop::lines::get_line)
                .service(workshop::lines::start)
                .service(workshop::lines::pause)
                .service(workshop::lines::stop)
                .service(workshop::reports::waste)
                .service(workshop::reports::statistics)
                .service(workshop::envelopes::page)
                .service(workshop::envelopes::printed)
                .service(workshop::dispatch::sort)
                .service(workshop::dispatch::seal)
                .service(workshop::dispatch::warehouse_in)
                .service(workshop::dispatch::list_boxes)
                .service(workshop::dispatch::get_box)
                .service(workshop::dispatch::create_dispatch)
                .service(workshop::dispatch::send)
                .service(workshop::dispatch::district_sign_off)
                .service(workshop::dispatch::branch_sign_off)
                .service(workshop::dispatch::get_dispatch)
                .service(branch_devices::read_id_card)
                .service(branch_devices::take_photo)
                .service(branch_devices::check_card)
                .service(branch_devices::pin)
                .service(branch_devices::instant_issue)
                .service(terminals::register)
                .service(terminals::list)
                .service(terminals::get_terminal)
                .service(terminals::disable)
                .service(terminals::enable)
                .service(terminals::probe)
                .service(terminals::notice)
                .service(branch::context::context)
                .service(branch::applications::accept)
                .service(branch::applications::list)
                .service(branch::cards::lookup)
                .service(branch::cards::operate)
                .service(branch::persons::query)
                .service(branch::statistics::statistics)
                .service(branch::machines::register)
                .service(branch::machines::list)
                .service(branch::machines::get_machine)
                .service(branch::machines::update)
                .service(branch::machines::deregister)
                .service(branch::machines::upload_photo)
                .service(monitor::snapshot)
                .service(monitor::alerts),
        )
}

/// The OpenAPI document of every HTTP endpoint.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, api) =
        register(App::new().into_utoipa_app().openapi(ApiDoc::openapi())).split_for_parts();
    with_openapi_route(api)
}

/// Adds the document's own route to it (it is served by a plain resource,
/// not a handler utoipa collects).
fn with_openapi_route(mut api: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
    use utoipa::openapi::response::ResponseBuilder;
    let op = OperationBuilder::new()
        .tag("health")
        .summary(Some("This OpenAPI document"))
        .response(
            "200",
            ResponseBuilder::new().description("The OpenAPI 3.1 document"),
        )
        .response(
            "401",
            ResponseBuilder::new().description("No valid credentials"),
        )
        .security(utoipa::openapi::security::SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        ))
        .build();
    api.paths
        .paths
        .insert(OPENAPI_PATH.to_owned(), PathItem::new(HttpMethod::Get, op));
    api
}

/// Where the OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

/// The whole application for one HTTP worker.
pub fn app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    // The document's own route goes first: the `/api/v1` scope below would
    // otherwise claim its path.
    let api = web::Data::new(openapi());
    register(
        App::new()
            .app_data(web::Data::new(state))
            .app_data(api)
            .app_data(
                web::JsonConfig::default()
                    .limit(256 * 1024)
                    .error_handler(error::json_error_handler),
            )
            .app_data(web::QueryConfig::default().error_handler(error::query_error_handler))
            .app_data(web::PathConfig::default().error_handler(error::path_error_handler))
            .route(OPENAPI_PATH, web::get().to(serve_openapi))
            .into_utoipa_app(),
    )
    .into_app()
    .default_service(web::to(not_found))
    .wrap(middleware::from_fn(telemetry::http_metrics))
}

async fn serve_openapi(_caller: Caller, api: web::Data<utoipa::openapi::OpenApi>) -> HttpResponse {
    HttpResponse::Ok().json(api.get_ref())
}

async fn not_found(req: actix_web::HttpRequest) -> Result<HttpResponse, error::ApiError> {
    Err(error::ApiError::NotFound(format!(
        "no endpoint {} {}; the endpoints are listed at {OPENAPI_PATH}",
        req.method(),
        req.path()
    )))
}
