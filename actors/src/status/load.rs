//! A synthetic status load for the monitoring wall and its benchmark:
//! `devices` made-up devices (`load/printer-0001`, `load/reader-0002`, ...)
//! whose states change `changes_per_sec` times a second in all, published
//! to the bus exactly as device actors publish theirs.
//!
//! It stands in for a thousand device actors, not for devices: there is no
//! transport behind it, and it is started only when `[simulators]
//! status_devices` asks for it (development mode). What it loads is the bus,
//! the screens' sockets and the page.

use std::time::{Duration, Instant};

use actix::prelude::*;
use rand::RngExt;

use super::bus::StatusBus;
use super::entity::{Detail, DeviceDetail, EntityKind, Health, Scope, Update};
use crate::supervision::ChildSpec;

/// The child's name under the hub.
pub const CHILD_NAME: &str = "status-load";

/// Publishing is spread over this many bursts a second.
const BURSTS_PER_SEC: u32 = 100;

/// Makes up device status changes.
pub struct StatusLoad {
    bus: StatusBus,
    devices: u32,
    changes_per_sec: u32,
    started: Instant,
    published: u64,
}

impl StatusLoad {
    /// The hub's `status-load` worker.
    pub fn child_spec(bus: StatusBus, devices: u32, changes_per_sec: u32) -> ChildSpec {
        ChildSpec::new(CHILD_NAME, move |_| StatusLoad {
            bus: bus.clone(),
            devices: devices.max(1),
            changes_per_sec,
            started: Instant::now(),
            published: 0,
        })
    }

    /// Device `n`'s update in a random state.
    fn update(n: u32, rng: &mut impl rand::Rng) -> Update {
        let kind = match n % 4 {
            0 => EntityKind::Printer,
            1 => EntityKind::Reader,
            2 => EntityKind::Camera,
            _ => EntityKind::IdReader,
        };
        let (health, reason) = match rng.random_range(0..20u32) {
            0 => (Health::Error, Some("card jam")),
            1 => (Health::Offline, Some("connection refused")),
            2 => (Health::Warning, Some("ribbon low")),
            3..=9 => (Health::Busy, None),
            _ => (Health::Ok, None),
        };
        let line = format!("load-{}", n % 50);
        let update = Update::new(kind, format!("load/{kind}-{n:04}"), health)
            .scope(Scope {
                workshop: Some("load".into()),
                line: Some(line),
                branch: None,
            })
            .detail(Detail::Device(DeviceDetail {
                hopper: (kind == EntityKind::Printer).then(|| rng.random_range(0..500)),
                ribbon_left: (kind == EntityKind::Printer).then(|| rng.random_range(0..1_000)),
                ..DeviceDetail::default()
            }));
        update.maybe_reason(reason)
    }

    fn burst(&mut self) {
        // Catch up to the rate since start, so timer jitter does not lower it.
        let due = (self.started.elapsed().as_secs_f64() * f64::from(self.changes_per_sec)) as u64;
        let mut rng = rand::rng();
        while self.published < due {
            let n = rng.random_range(0..self.devices);
            self.bus.publish(Self::update(n, &mut rng));
            self.published += 1;
        }
    }
}

impl Actor for StatusLoad {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let mut rng = rand::rng();
        for n in 0..self.devices {
            self.bus.publish(Self::update(n, &mut rng));
        }
        self.started = Instant::now();
        self.published = 0;
        if self.changes_per_sec > 0 {
            ctx.run_interval(Duration::from_secs(1) / BURSTS_PER_SEC, |load, _| {
                load.burst()
            });
        }
        tracing::info!(
            devices = self.devices,
            changes_per_sec = self.changes_per_sec,
            "synthetic status load started ([simulators] status_devices)"
        );
    }
}
