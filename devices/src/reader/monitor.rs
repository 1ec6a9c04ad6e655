//! [`ReaderMonitor`]: watches PC/SC readers on a thread of its own and
//! reports [`ReaderEvent`]s: readers plugged and unplugged, cards inserted
//! and removed.
//!
//! The thread blocks in SCardGetStatusChange on its own context, with the
//! `\\?PnP?\Notification` pseudo-reader to hear of reader arrival and
//! removal. Dropping the monitor cancels the wait (SCardCancel) and joins
//! the thread. When pcscd goes away the monitor reports every watched
//! reader removed, then [`ReaderEvent::ServiceLost`], and reconnects to the
//! service every [`SERVICE_RETRY`] until it is back or the monitor stops.
//!
//! The comparison of what PC/SC reports with what was reported before is a
//! plain state machine (`Tracker`) so it is tested without a reader; the
//! driver itself is the sibling `pcsc_reader` module.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use pcsc::{Context, State};

use super::pcsc_reader::{establish_context, is_service_error, list_reader_names, reader_state_of};
use super::{Atr, ReaderError, ReaderState};

/// How long one SCardGetStatusChange waits before the thread checks whether
/// it was asked to stop. SCardCancel normally ends the wait at once; this
/// bounds the stop when the cancel lands between two waits.
const WAIT_SLICE: Duration = Duration::from_secs(1);

/// How often the monitor tries to reach pcscd again after losing it.
pub const SERVICE_RETRY: Duration = Duration::from_secs(2);

/// Which readers a [`ReaderMonitor`] watches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonitorConfig {
    /// Watch only readers whose name starts with one of these (e.g.
    /// `"cardhub vpcd"` or a vendor's model name); empty watches every
    /// reader.
    pub name_prefixes: Vec<String>,
    /// Never watch these readers, whatever their name (readers another
    /// driver owns, such as printers' encoders). pcsc-lite watches at most
    /// 16 readers in one call, its plug-and-play pseudo-reader included,
    /// so leaving out what is not needed matters on a full pcscd.
    pub excluded: Vec<String>,
}

impl MonitorConfig {
    /// Watches every reader.
    pub fn all() -> Self {
        Self::default()
    }

    /// Watches the readers whose name starts with one of `prefixes`.
    pub fn with_prefixes<I, S>(prefixes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            name_prefixes: prefixes.into_iter().map(Into::into).collect(),
            excluded: Vec::new(),
        }
    }

    /// The same, never watching the readers in `excluded`.
    pub fn excluding<I, S>(mut self, excluded: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.excluded = excluded.into_iter().map(Into::into).collect();
        self
    }

    /// Whether the reader called `name` is watched.
    pub fn accepts(&self, name: &str) -> bool {
        !self.excluded.iter().any(|e| e == name)
            && (self.name_prefixes.is_empty()
                || self
                    .name_prefixes
                    .iter()
                    .any(|p| name.starts_with(p.as_str())))
    }
}

/// Something that happened to a watched reader.
///
/// When the monitor starts it reports what is already there: a
/// `ReaderAdded` for every watched reader, then a `CardInserted` (or
/// `CardMute`) for every card already in one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReaderEvent {
    /// A reader appeared (plugged in, or present when the monitor started).
    ReaderAdded(String),
    /// A reader disappeared. A card that was in it is reported removed
    /// first.
    ReaderRemoved(String),
    /// A card was inserted and answered to reset.
    CardInserted {
        /// The reader's name.
        reader: String,
        /// The card's answer to reset.
        atr: Atr,
    },
    /// A card is in the reader but does not answer to reset.
    CardMute {
        /// The reader's name.
        reader: String,
    },
    /// The card was taken out (also reported for a mute card).
    CardRemoved {
        /// The reader's name.
        reader: String,
    },
    /// The PC/SC service went away; every watched reader has been reported
    /// removed. The monitor keeps trying to reach it every
    /// [`SERVICE_RETRY`] and reports the readers again when it is back.
    ServiceLost(ReaderError),
}

/// A thread watching readers; stops and joins when dropped.
pub struct ReaderMonitor {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl ReaderMonitor {
    /// Starts watching the readers `config` selects and calls `on_event`
    /// (on the monitor's thread) for every event.
    ///
    /// Fails with [`ReaderError::ServiceUnavailable`] when pcscd is not
    /// running.
    pub fn spawn<F>(config: MonitorConfig, on_event: F) -> Result<Self, ReaderError>
    where
        F: FnMut(ReaderEvent) + Send + 'static,
    {
        let context = establish_context()?;
        let shared = Arc::new(Shared {
            stopping: Mutex::new(false),
            wake: Condvar::new(),
            context: Mutex::new(Some(context.clone())),
        });
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("cardhub-reader-monitor".into())
            .spawn(move || run(&thread_shared, config, context, on_event))
            .map_err(|e| ReaderError::Other {
                source: pcsc::Error::NoMemory,
                context: format!("cannot start the reader monitor thread: {e}"),
            })?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Starts watching and delivers the events on a channel.
    pub fn channel(
        config: MonitorConfig,
    ) -> Result<(Self, mpsc::Receiver<ReaderEvent>), ReaderError> {
        let (tx, rx) = mpsc::channel();
        let monitor = Self::spawn(config, move |event| {
            // A receiver that hung up wants no more events; the owner
            // stops the monitor by dropping it.
            let _ = tx.send(event);
        })?;
        Ok((monitor, rx))
    }

    /// Stops the thread and waits for it (the same as dropping the monitor).
    pub fn stop(self) {}
}

impl Drop for ReaderMonitor {
    fn drop(&mut self) {
        self.shared.request_stop();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::warn!("the reader monitor's event handler panicked");
        }
    }
}

impl std::fmt::Debug for ReaderMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReaderMonitor")
            .field("running", &self.thread.is_some())
            .finish()
    }
}

/// What the owner and the thread share: the stop request and the context
/// to cancel.
struct Shared {
    stopping: Mutex<bool>,
    wake: Condvar,
    context: Mutex<Option<Context>>,
}

impl Shared {
    fn request_stop(&self) {
        *self.stopping.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.wake.notify_all();
        if let Some(context) = self
            .context
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            // Not waiting right now is fine: the wait slice catches it.
            let _ = context.cancel();
        }
    }

    fn is_stopping(&self) -> bool {
        *self.stopping.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits up to `timeout` for a stop request; true when asked to stop.
    fn wait_for_stop(&self, timeout: Duration) -> bool {
        let stopping = self.stopping.lock().unwrap_or_else(PoisonError::into_inner);
        let (stopping, _) = self
            .wake
            .wait_timeout_while(stopping, timeout, |stop| !*stop)
            .unwrap_or_else(PoisonError::into_inner);
        *stopping
    }

    fn set_context(&self, context: Option<Context>) {
        *self.context.lock().unwrap_or_else(PoisonError::into_inner) = context;
    }
}

fn run<F>(shared: &Shared, config: MonitorConfig, mut context: Context, mut on_event: F)
where
    F: FnMut(ReaderEvent),
{
    let mut tracker = Tracker::new(config);
    let mut emit = |events: Vec<ReaderEvent>| events.into_iter().for_each(&mut on_event);
    loop {
        let error = match watch(shared, &context, &mut tracker, &mut emit) {
            Ok(()) => return,
            Err(error) => error,
        };
        tracing::warn!(%error, "reader monitor lost the PC/SC service");
        shared.set_context(None);
        let mut events = tracker.forget_all();
        events.push(ReaderEvent::ServiceLost(error));
        emit(events);
        context = loop {
            if shared.wait_for_stop(SERVICE_RETRY) {
                return;
            }
            if let Ok(context) = establish_context() {
                break context;
            }
        };
        shared.set_context(Some(context.clone()));
        if shared.is_stopping() {
            return;
        }
    }
}

/// Watches until asked to stop (`Ok`) or until PC/SC fails (`Err`).
fn watch(
    shared: &Shared,
    context: &Context,
    tracker: &mut Tracker,
    emit: &mut impl FnMut(Vec<ReaderEvent>),
) -> Result<(), ReaderError> {
    let pnp = pcsc::PNP_NOTIFICATION();
    let mut states = vec![pcsc::ReaderState::new(pnp, State::UNAWARE)];
    refresh_readers(context, &mut states, tracker, emit)?;
    while !shared.is_stopping() {
        match context.get_status_change(WAIT_SLICE, &mut states) {
            Ok(()) => {}
            Err(pcsc::Error::Timeout | pcsc::Error::Cancelled) => continue,
            // A reader vanished between listing and waiting.
            Err(pcsc::Error::UnknownReader) => {
                refresh_readers(context, &mut states, tracker, emit)?;
                continue;
            }
            // pcsc-lite reports a dead pcscd here as a communication error.
            Err(e) if is_service_error(e) && establish_context().is_err() => {
                return Err(ReaderError::ServiceUnavailable);
            }
            Err(e) => return Err(ReaderError::from_pcsc(e, "", "watch readers", None)),
        }
        let mut list_changed = false;
        for state in &mut states {
            if state.name() == pnp {
                list_changed |= state.event_state().contains(State::CHANGED);
            } else {
                // Every watched reader's state is compared, changed or not:
                // the tracker reports only differences.
                let name = state.name().to_string_lossy().into_owned();
                let seen = reader_state_of(state);
                emit(tracker.observe(&name, seen, state.event_count()));
            }
            state.sync_current_state();
        }
        if list_changed
            || states
                .iter()
                .any(|s| s.event_state().contains(State::UNKNOWN))
        {
            refresh_readers(context, &mut states, tracker, emit)?;
        }
    }
    Ok(())
}

/// Lists the readers again: watches the new ones, drops the gone ones.
fn refresh_readers(
    context: &Context,
    states: &mut Vec<pcsc::ReaderState>,
    tracker: &mut Tracker,
    emit: &mut impl FnMut(Vec<ReaderEvent>),
) -> Result<(), ReaderError> {
    let names = list_reader_names(context)?;
    let (added, events) = tracker.reader_list(&names);
    emit(events);
    let pnp = pcsc::PNP_NOTIFICATION();
    states.retain(|s| s.name() == pnp || tracker.watches(&s.name().to_string_lossy()));
    for name in added {
        // Reader names come from pcscd and hold no NUL byte.
        if let Ok(c_name) = CString::new(name) {
            states.push(pcsc::ReaderState::new(c_name, State::UNAWARE));
        }
    }
    Ok(())
}

/// What the monitor last reported for one reader.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    /// Listed, state not yet read.
    Unread,
    /// Nothing to report as inserted.
    NoCard,
    /// A card reported inserted (or mute), with pcsc-lite's card event
    /// count at that time.
    Card { count: u32 },
}

/// Turns what PC/SC reports into events, remembering what was reported.
#[derive(Debug)]
struct Tracker {
    config: MonitorConfig,
    readers: BTreeMap<String, Seen>,
}

impl Tracker {
    fn new(config: MonitorConfig) -> Self {
        Self {
            config,
            readers: BTreeMap::new(),
        }
    }

    fn watches(&self, name: &str) -> bool {
        self.readers.contains_key(name)
    }

    /// The current reader list: returns the newly watched readers and the
    /// events (added readers, removed readers with their cards).
    fn reader_list(&mut self, names: &[String]) -> (Vec<String>, Vec<ReaderEvent>) {
        let mut events = Vec::new();
        let gone: Vec<String> = self
            .readers
            .keys()
            .filter(|known| !names.contains(known))
            .cloned()
            .collect();
        for name in gone {
            events.extend(self.remove(&name));
        }
        let mut added = Vec::new();
        for name in names {
            if self.config.accepts(name) && !self.readers.contains_key(name) {
                self.readers.insert(name.clone(), Seen::Unread);
                events.push(ReaderEvent::ReaderAdded(name.clone()));
                added.push(name.clone());
            }
        }
        (added, events)
    }

    /// The state PC/SC reported for a watched reader, with its card event
    /// count (which moves on every insertion and removal, so a card
    /// swapped between two reports is seen too).
    fn observe(&mut self, name: &str, state: ReaderState, count: u32) -> Vec<ReaderEvent> {
        let Some(seen) = self.readers.get_mut(name) else {
            return Vec::new();
        };
        let reader = name.to_owned();
        let mut events = Vec::new();
        let had_card = matches!(seen, Seen::Card { .. });
        let swapped = matches!(seen, Seen::Card { count: before } if *before != count);
        match state {
            ReaderState::Present { .. } | ReaderState::Mute => {
                if had_card && !swapped {
                    return events;
                }
                if had_card {
                    events.push(ReaderEvent::CardRemoved {
                        reader: reader.clone(),
                    });
                }
                events.push(match state {
                    ReaderState::Present { atr } => ReaderEvent::CardInserted { reader, atr },
                    _ => ReaderEvent::CardMute { reader },
                });
                *seen = Seen::Card { count };
            }
            // An unavailable reader that is still listed holds no usable
            // card; it is reported removed only when it leaves the list.
            ReaderState::Empty | ReaderState::Unavailable => {
                if had_card {
                    events.push(ReaderEvent::CardRemoved { reader });
                }
                *seen = Seen::NoCard;
            }
        }
        events
    }

    /// Forgets a reader: its card removed, then the reader.
    fn remove(&mut self, name: &str) -> Vec<ReaderEvent> {
        let mut events = Vec::new();
        match self.readers.remove(name) {
            None => {}
            Some(seen) => {
                if matches!(seen, Seen::Card { .. }) {
                    events.push(ReaderEvent::CardRemoved {
                        reader: name.to_owned(),
                    });
                }
                events.push(ReaderEvent::ReaderRemoved(name.to_owned()));
            }
        }
        events
    }

    /// Forgets every reader (the service is gone).
    fn forget_all(&mut self) -> Vec<ReaderEvent> {
        let names: Vec<String> = self.readers.keys().cloned().collect();
        names.iter().flat_map(|n| self.remove(n)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn atr() -> Atr {
        Atr::new(vec![0x3B, 0x02, 0x14, 0x50])
    }

    fn present() -> ReaderState {
        ReaderState::Present { atr: atr() }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn excluded_readers_are_never_watched() {
        let config =
            MonitorConfig::with_prefixes(["cardhub vpcd"]).excluding(["cardhub vpcd 1 00 00"]);
        assert!(!config.accepts("cardhub vpcd 1 00 00"));
        assert!(config.accepts("cardhub vpcd 1 00 01"));
        assert!(!MonitorConfig::all().excluding(["A"]).accepts("A"));
    }

    #[test]
    fn prefixes_select_readers() {
        let config = MonitorConfig::with_prefixes(["cardhub vpcd", "ACS"]);
        assert!(config.accepts("cardhub vpcd 35963 00 00"));
        assert!(config.accepts("ACS ACR122U 00 00"));
        assert!(!config.accepts("Gemalto PC Twin Reader 00 00"));
        assert!(MonitorConfig::all().accepts("anything"));
    }

    #[test]
    fn readers_come_and_go_with_their_cards() {
        let mut t = Tracker::new(MonitorConfig::with_prefixes(["r"]));
        let (added, events) = t.reader_list(&names(&["r1", "x", "r2"]));
        assert_eq!(added, names(&["r1", "r2"]));
        assert_eq!(
            events,
            vec![
                ReaderEvent::ReaderAdded("r1".into()),
                ReaderEvent::ReaderAdded("r2".into())
            ]
        );
        assert_eq!(
            t.observe("r1", present(), 1),
            vec![ReaderEvent::CardInserted {
                reader: "r1".into(),
                atr: atr()
            }]
        );
        assert_eq!(t.observe("r2", ReaderState::Empty, 0), vec![]);
        // Listing the same readers again reports nothing.
        assert_eq!(t.reader_list(&names(&["r1", "r2"])), (vec![], vec![]));
        let (added, events) = t.reader_list(&names(&["r2"]));
        assert!(added.is_empty());
        assert_eq!(
            events,
            vec![
                ReaderEvent::CardRemoved {
                    reader: "r1".into()
                },
                ReaderEvent::ReaderRemoved("r1".into())
            ]
        );
        // A state for a reader no longer watched is ignored.
        assert_eq!(t.observe("r1", present(), 3), vec![]);
    }

    #[test]
    fn insertion_and_removal_are_reported_once() {
        let mut t = Tracker::new(MonitorConfig::all());
        t.reader_list(&names(&["r"]));
        assert_eq!(t.observe("r", ReaderState::Empty, 0), vec![]);
        assert_eq!(t.observe("r", present(), 1).len(), 1);
        assert_eq!(t.observe("r", present(), 1), vec![]);
        assert_eq!(
            t.observe("r", ReaderState::Empty, 2),
            vec![ReaderEvent::CardRemoved { reader: "r".into() }]
        );
        assert_eq!(t.observe("r", ReaderState::Empty, 2), vec![]);
    }

    #[test]
    fn a_card_swapped_between_reports_is_removed_then_inserted() {
        let mut t = Tracker::new(MonitorConfig::all());
        t.reader_list(&names(&["r"]));
        t.observe("r", present(), 1);
        assert_eq!(
            t.observe("r", present(), 3),
            vec![
                ReaderEvent::CardRemoved { reader: "r".into() },
                ReaderEvent::CardInserted {
                    reader: "r".into(),
                    atr: atr()
                }
            ]
        );
    }

    #[test]
    fn a_mute_card_is_reported_and_removed() {
        let mut t = Tracker::new(MonitorConfig::all());
        t.reader_list(&names(&["r"]));
        assert_eq!(
            t.observe("r", ReaderState::Mute, 1),
            vec![ReaderEvent::CardMute { reader: "r".into() }]
        );
        assert_eq!(
            t.observe("r", ReaderState::Empty, 2),
            vec![ReaderEvent::CardRemoved { reader: "r".into() }]
        );
    }

    #[test]
    fn an_unavailable_reader_loses_its_card_and_stays_watched() {
        let mut t = Tracker::new(MonitorConfig::all());
        t.reader_list(&names(&["a"]));
        t.observe("a", present(), 1);
        assert_eq!(
            t.observe("a", ReaderState::Unavailable, 1),
            vec![ReaderEvent::CardRemoved { reader: "a".into() }]
        );
        assert!(t.watches("a"));
        assert_eq!(t.observe("a", ReaderState::Unavailable, 1), vec![]);
    }

    #[test]
    fn losing_the_service_forgets_every_reader() {
        let mut t = Tracker::new(MonitorConfig::all());
        t.reader_list(&names(&["a", "b"]));
        t.observe("a", present(), 1);
        t.observe("b", ReaderState::Empty, 0);
        assert_eq!(
            t.forget_all(),
            vec![
                ReaderEvent::CardRemoved { reader: "a".into() },
                ReaderEvent::ReaderRemoved("a".into()),
                ReaderEvent::ReaderRemoved("b".into())
            ]
        );
        assert!(!t.watches("a"));
        assert!(!t.watches("b"));
    }
}
