//! [`Registry`]: the running printer actors by name. A printer actor
//! enters itself when it starts and leaves when it stops, so a line always
//! reaches the current run of a restarted printer.

use std::sync::Arc;

use actix::Addr;
use dashmap::DashMap;

use super::printer::PrinterActor;

/// Printer actors by name, shared by the workshop.
#[derive(Clone, Default)]
pub struct Registry {
    printers: Arc<DashMap<String, Addr<PrinterActor>>>,
}

impl Registry {
    /// The running actor of printer `name`.
    pub fn printer(&self, name: &str) -> Option<Addr<PrinterActor>> {
        self.printers
            .get(name)
            .map(|a| a.clone())
            .filter(|a| a.connected())
    }

    pub(super) fn insert_printer(&self, name: &str, addr: Addr<PrinterActor>) {
        self.printers.insert(name.to_owned(), addr);
    }

    /// Removes `name` if it is still `addr` (a restarted actor may already
    /// have entered itself).
    pub(super) fn remove_printer(&self, name: &str, addr: &Addr<PrinterActor>) {
        self.printers.remove_if(name, |_, current| current == addr);
    }
}
