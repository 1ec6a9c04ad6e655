//! Finding the terminal's devices: one driver per configured entry, every
//! PC/SC reader pcscd lists for a `pcsc:auto` entry, and the watches that
//! follow devices coming and going.
//!
//! - Serial ID readers, printers and cameras are started from their
//!   entries; each probes its device on its own thread (open, SAM status /
//!   printer status / `GetDeviceInfo`), in parallel. [`start`] waits for
//!   the probes (at most [`PROBE_WAIT`]) so the start-up lines say what
//!   was found.
//! - PC/SC readers are listed once at start; then a [`ReaderMonitor`] on a
//!   thread of its own reports readers and cards: `card_present` /
//!   `card_removed` events, a named reader going `offline` and back, a
//!   `pcsc:auto` reader appearing or leaving (a new `device_list`). When
//!   pcscd is down the monitor is started again every [`SERVICE_RETRY`].
//! - USB cameras: an nusb hot-plug watch tells the camera drivers when a
//!   camera is plugged in or out; where the watch is not available they
//!   look for their camera every couple of seconds anyway.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cardhub_devices::camera::UsbWatch;
use cardhub_devices::reader::{
    MonitorConfig, PcscContext, ReaderEvent, ReaderMonitor, SERVICE_RETRY,
};
use cardhub_protocols::terminal::{DeviceEvent, DeviceKind};

use super::config::{CameraAddress, CardReaderEntry, DeviceEntries, DeviceName, ReaderChoice};
use super::devices::{
    CameraDriver, CardReaderDriver, Health, IdReaderDriver, PrinterDriver, Registry, Reporter,
};

/// How long start-up waits for the devices' first look: a camera or
/// printer that does not answer is given its connect and command timeouts
/// (5 s each) before it is called offline.
pub const PROBE_WAIT: Duration = Duration::from_secs(12);

/// How often the USB watch's wait wakes up (nothing depends on it: the
/// watch thread just lives as long as the process).
const USB_WAIT: Duration = Duration::from_secs(60);

/// Starts every configured device and the watches; returns when the
/// devices have been looked at (or [`PROBE_WAIT`] passed).
pub fn start(entries: &DeviceEntries, registry: &Arc<Registry>) {
    let mut probes = Vec::new();
    for entry in &entries.id_readers {
        let poll = (entry.poll_ms > 0).then(|| Duration::from_millis(entry.poll_ms));
        let driver = IdReaderDriver::new(entry.name.as_str(), entry.driver_config(), poll);
        probes.push(registry.start(
            entry.name.as_str(),
            DeviceKind::IdReader,
            Box::new(driver),
            false,
        ));
    }
    for entry in &entries.cameras {
        let driver = CameraDriver::new(entry.name.as_str(), entry.address.clone());
        probes.push(registry.start(
            entry.name.as_str(),
            DeviceKind::Camera,
            Box::new(driver),
            false,
        ));
    }
    for entry in &entries.printers {
        let driver = PrinterDriver::new(
            entry.name.as_str(),
            entry.address.0.clone(),
            Duration::from_secs(entry.status_secs),
        );
        probes.push(registry.start(
            entry.name.as_str(),
            DeviceKind::Printer,
            Box::new(driver),
            false,
        ));
    }
    if !entries.card_readers.is_empty() {
        let mut pcsc = PcscDevices::new(&entries.card_readers, Arc::clone(registry));
        probes.extend(pcsc.start_listed());
        let spawned = std::thread::Builder::new()
            .name("pcsc-discovery".into())
            .spawn(move || pcsc.watch());
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the PC/SC watch: readers are not followed");
        }
    }
    if entries
        .cameras
        .iter()
        .any(|c| !matches!(c.address, CameraAddress::Tcp(_)))
    {
        start_usb_watch(Arc::clone(registry));
    }
    let deadline = Instant::now() + PROBE_WAIT;
    for probe in probes {
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = probe.recv_timeout(left);
    }
}

/// The PC/SC readers of the configuration and the devices made of them.
struct PcscDevices {
    registry: Arc<Registry>,
    /// Named readers: the PC/SC name and the device name.
    named: BTreeMap<String, String>,
    /// The `pcsc:auto` entry's name stem, if there is one.
    auto: Option<DeviceName>,
    /// Readers taken by `pcsc:auto`, with the device name each got (kept
    /// when unplugged, so a reader plugged back gets its old name).
    auto_names: BTreeMap<String, String>,
}

impl PcscDevices {
    fn new(entries: &[CardReaderEntry], registry: Arc<Registry>) -> Self {
        let mut named = BTreeMap::new();
        let mut auto = None;
        for entry in entries {
            match &entry.reader {
                ReaderChoice::Named(reader) => {
                    named.insert(reader.clone(), entry.name.to_string());
                }
                ReaderChoice::Auto => auto = Some(entry.name.clone()),
            }
        }
        Self {
            registry,
            named,
            auto,
            auto_names: BTreeMap::new(),
        }
    }

    /// Lists the readers and starts a device for each named reader (online
    /// or not) and each reader `pcsc:auto` takes.
    fn start_listed(&mut self) -> Vec<mpsc::Receiver<()>> {
        let listed = PcscContext::establish().and_then(|c| c.list_readers());
        let (readers, why_not) = match listed {
            Ok(readers) => (readers, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        let mut probes = Vec::new();
        for (reader, device) in &self.named {
            let health = if readers.contains(reader) {
                Health::ready()
            } else {
                Health::offline(why_not.clone().unwrap_or_else(|| {
                    format!("pcscd does not list reader `{reader}`: plug it in, or fix the name (pcsc_scan lists the readers)")
                }))
            };
            probes.push(self.start_reader(reader, device.clone(), health, false));
        }
        for reader in &readers {
            if let Some(device) = self.auto_name(reader) {
                probes.push(self.start_reader(reader, device, Health::ready(), false));
            }
        }
        probes
    }

    /// The device name `pcsc:auto` gives `reader` (`None`: not its reader).
    fn auto_name(&mut self, reader: &str) -> Option<String> {
        if self.named.contains_key(reader) {
            return None;
        }
        let stem = self.auto.as_ref()?;
        let next = self.auto_names.len() + 1;
        Some(
            self.auto_names
                .entry(reader.to_owned())
                .or_insert_with(|| stem.numbered(next))
                .clone(),
        )
    }

    fn start_reader(
        &self,
        reader: &str,
        device: String,
        health: Health,
        announce: bool,
    ) -> mpsc::Receiver<()> {
        let driver = CardReaderDriver::new(&device, reader, health);
        self.registry
            .start(&device, DeviceKind::CardReader, Box::new(driver), announce)
    }

    /// The device of `reader`, if it has one now.
    fn reporter(&self, reader: &str) -> Option<Reporter> {
        let device = self
            .named
            .get(reader)
            .or_else(|| self.auto_names.get(reader))?;
        self.registry.reporter(device)
    }

    /// Follows the readers for the life of the process.
    fn watch(mut self) {
        let config = if self.auto.is_some() {
            MonitorConfig::all()
        } else {
            MonitorConfig::with_prefixes(self.named.keys().cloned())
        };
        loop {
            match ReaderMonitor::channel(config.clone()) {
                Ok((_monitor, events)) => {
                    for event in events {
                        self.on_event(event);
                    }
                    tracing::warn!("the PC/SC monitor stopped; starting it again");
                }
                Err(e) => {
                    self.all_offline(&e.to_string());
                    tracing::debug!(error = %e, "PC/SC not available; trying again");
                }
            }
            std::thread::sleep(SERVICE_RETRY);
        }
    }

    fn all_offline(&self, why: &str) {
        for reader in self.named.keys().chain(self.auto_names.keys()) {
            if let Some(reporter) = self.reporter(reader) {
                reporter.set(Health::offline(why));
            }
        }
    }

    fn on_event(&mut self, event: ReaderEvent) {
        match event {
            ReaderEvent::ReaderAdded(reader) => {
                if let Some(reporter) = self.reporter(&reader) {
                    reporter.set(Health::ready());
                } else if let Some(device) = self.auto_name(&reader) {
                    // The receiver is not waited for: the worker prints and
                    // announces the device itself.
                    drop(self.start_reader(&reader, device, Health::ready(), true));
                }
            }
            ReaderEvent::ReaderRemoved(reader) => {
                if let Some(device) = self.auto_names.get(&reader) {
                    self.registry.remove(device);
                } else if let Some(reporter) = self.reporter(&reader) {
                    reporter.set(Health::offline(format!(
                        "reader `{reader}` was unplugged: plug it back in"
                    )));
                }
            }
            ReaderEvent::CardInserted { reader, atr } => {
                if let Some(reporter) = self.reporter(&reader) {
                    reporter.event(DeviceEvent::CardPresent {
                        atr: Some(atr.into_bytes().into()),
                    });
                }
            }
            ReaderEvent::CardMute { reader } => {
                if let Some(reporter) = self.reporter(&reader) {
                    reporter.event(DeviceEvent::CardPresent { atr: None });
                }
            }
            ReaderEvent::CardRemoved { reader } => {
                if let Some(reporter) = self.reporter(&reader) {
                    reporter.event(DeviceEvent::CardRemoved {});
                }
            }
            ReaderEvent::ServiceLost(e) => self.all_offline(&e.to_string()),
            other => tracing::debug!(?other, "PC/SC event passed over"),
        }
    }
}

/// Forwards USB hot-plug events to the cameras.
fn start_usb_watch(registry: Arc<Registry>) {
    let spawned = std::thread::Builder::new()
        .name("usb-watch".into())
        .spawn(move || {
            let mut watch = match UsbWatch::new() {
                Ok(watch) => watch,
                Err(e) => {
                    tracing::warn!(error = %e, "no USB hot-plug here: cameras are looked for every few seconds instead");
                    return;
                }
            };
            loop {
                if let Some(event) = watch.next(USB_WAIT) {
                    registry.usb(DeviceKind::Camera, &event);
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the USB watch");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(text: &str) -> Vec<CardReaderEntry> {
        #[derive(serde::Deserialize)]
        struct File {
            card_readers: Vec<CardReaderEntry>,
        }
        toml::from_str::<File>(text).unwrap().card_readers
    }

    #[test]
    fn automatic_readers_get_stable_numbered_names_and_named_ones_are_left_alone() {
        let (sink, _events) = tokio::sync::mpsc::unbounded_channel();
        let registry = Arc::new(Registry::new("T", sink));
        let mut pcsc = PcscDevices::new(
            &entries(
                r#"
                [[card_readers]]
                name = "encoder"
                reader = "ACS 00 00"
                [[card_readers]]
                name = "reader"
                reader = "pcsc:auto"
                "#,
            ),
            registry,
        );
        assert_eq!(pcsc.auto_name("ACS 00 00"), None);
        assert_eq!(pcsc.auto_name("Gemalto 00 00").as_deref(), Some("reader-1"));
        assert_eq!(pcsc.auto_name("Gemalto 01 00").as_deref(), Some("reader-2"));
        // Unplugged and plugged back: the same name.
        assert_eq!(pcsc.auto_name("Gemalto 00 00").as_deref(), Some("reader-1"));
    }
}
