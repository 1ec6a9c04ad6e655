//! cardhub-web: the hub's HTTP and WebSocket front (actix-web) and the
//! library behind the `cardhub` binary.
//!
//! # Layout
//! - [`config`]: the configuration (embedded default, file, `CARDHUB_*`).
//! - [`server`]: `cardhub serve`: start-up, the HTTP server, graceful
//!   shutdown.
//! - [`bootstrap`]: the key store and development credentials.
//! - [`routes`]: every HTTP route, registered so the OpenAPI document is
//!   generated from them; [`auth`] (who is calling) and [`error`] (how
//!   failures look) serve them.
//! - [`monitor`]: the monitoring wall: its page at `/`, `/ws/monitor`,
//!   the snapshot and alert views, `[monitor]`.
//! - [`console`]: the branch console page (网点服务平台) at `/console`.
//! - [`terminal`]: the branch terminals' link `/ws/terminal`: sessions,
//!   resume, pushes, device commands through `cardhub_devices::remote`,
//!   `[terminal]`.
//! - [`telemetry`]: `/metrics` recorder, request metrics, logging.
//! - [`cli`]: the administration commands; [`bench`]: benchmarks.
//! - [`agent`]: `cardhub terminal`, the branch agent that links a branch
//!   PC's devices to the hub's `/ws/terminal`.
//! - [`simulate`]: the simulated printers and portal `make run` starts
//!   (`[simulators]`, development only).
//!
//! Neighbours: business rules and codecs in `cardhub-protocols`, the database
//! in `cardhub-storage`, the actor tree in `cardhub-actors`.

pub mod agent;
pub mod auth;
pub mod bench;
pub mod bootstrap;
pub mod cli;
pub mod config;
pub mod console;
pub mod error;
pub mod login_limit;
pub mod monitor;
pub mod routes;
pub mod server;
pub mod sim_branch;
pub mod simulate;
pub mod state;
pub mod telemetry;
pub mod terminal;
pub mod time;
