//! The PC/SC reader driver over pcsc-lite (the `pcsc` crate): [`PcscContext`]
//! lists readers, [`PcscReader`] implements [`CardReader`] for one of them.
//!
//! Each [`PcscReader`] holds its own PC/SC context: pcsc-lite serialises the
//! calls made on one context, so readers driven from different threads must
//! not share one. Cards are always connected in shared mode, so a
//! diagnostic tool (pcsc_scan, opensc-tool) can look at the same card.
//!
//! A context dies with the pcscd it was made with. When a call fails that
//! way, listing readers, asking a reader's state and connecting make a new
//! context and try once more (pcscd may have been restarted); a card
//! session cannot survive it, so transmit and reconnect then fail with
//! [`ReaderError::ServiceRestarted`] (connect again) or
//! [`ReaderError::ServiceUnavailable`] (pcscd is still down).
//!
//! Events (reader and card arrival and removal) are the business of the
//! sibling `monitor` module.

use std::ffi::CString;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use pcsc::{Card, Context, Disposition, Protocols, Scope, ShareMode, State};

use super::{Atr, CardReader, ProtocolPreference, ReaderError, ReaderState, hex_upper};

/// A PC/SC context: the connection to pcscd, used to list readers and open
/// them. Re-made by itself when pcscd restarts.
pub struct PcscContext {
    context: Mutex<Context>,
}

impl PcscContext {
    /// Connects to the PC/SC service.
    ///
    /// Fails with [`ReaderError::ServiceUnavailable`] when pcscd is not
    /// running.
    pub fn establish() -> Result<Self, ReaderError> {
        Ok(Self {
            context: Mutex::new(establish_context()?),
        })
    }

    /// The names of all readers pcscd knows, in its order. An empty list
    /// when there are none.
    pub fn list_readers(&self) -> Result<Vec<String>, ReaderError> {
        let mut context = self.context.lock().unwrap_or_else(PoisonError::into_inner);
        match context.list_readers_owned() {
            Err(e) if is_service_error(e) => {
                *context = establish_context()?;
                list_reader_names(&context)
            }
            result => reader_names(result),
        }
    }

    /// The names of the readers whose name starts with one of `prefixes`
    /// (all readers when `prefixes` is empty).
    pub fn list_readers_with_prefix(
        &self,
        prefixes: &[String],
    ) -> Result<Vec<String>, ReaderError> {
        let mut names = self.list_readers()?;
        if !prefixes.is_empty() {
            names.retain(|name| prefixes.iter().any(|p| name.starts_with(p.as_str())));
        }
        Ok(names)
    }

    /// The pcsc-lite context, for the crate's own waits on reader states.
    #[cfg_attr(not(feature = "rig"), allow(dead_code))]
    pub(crate) fn raw(&self) -> Context {
        self.context
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Opens the reader called `name` (not yet connected to its card), with
    /// a context of its own as [`PcscReader::open`] does.
    ///
    /// Fails with [`ReaderError::ReaderGone`] when no such reader is listed.
    pub fn open(&self, name: &str) -> Result<PcscReader, ReaderError> {
        PcscReader::open(name)
    }
}

/// One PC/SC reader and, once connected, the session with its card.
pub struct PcscReader {
    context: Context,
    name: String,
    c_name: CString,
    card: Option<Card>,
    preference: ProtocolPreference,
    /// Room for the longest response: extended-length data (65536 bytes)
    /// plus SW1 SW2 and the protocol's framing (pcsc-lite's
    /// MAX_BUFFER_SIZE_EXTENDED).
    receive: Vec<u8>,
}

impl PcscReader {
    /// Opens the reader called `name` with a PC/SC context of its own.
    ///
    /// Fails with [`ReaderError::ServiceUnavailable`] when pcscd is not
    /// running and [`ReaderError::ReaderGone`] when no such reader is
    /// listed.
    pub fn open(name: &str) -> Result<Self, ReaderError> {
        let gone = || ReaderError::ReaderGone {
            reader: name.to_owned(),
        };
        let c_name = CString::new(name).map_err(|_| gone())?;
        let context = establish_context()?;
        if !list_reader_names(&context)?.iter().any(|n| n == name) {
            return Err(gone());
        }
        Ok(Self {
            context,
            name: name.to_owned(),
            c_name,
            card: None,
            preference: ProtocolPreference::Any,
            receive: vec![0; pcsc::MAX_BUFFER_SIZE_EXTENDED],
        })
    }

    fn error(&self, err: pcsc::Error, operation: &str) -> ReaderError {
        ReaderError::from_pcsc(err, &self.name, operation, Some(self.preference))
    }

    /// After a card call failed because the context is dead: the card
    /// session is over; a new context is made if pcscd is back.
    fn session_lost(&mut self) -> ReaderError {
        self.card = None;
        match establish_context() {
            Ok(context) => {
                self.context = context;
                ReaderError::ServiceRestarted {
                    reader: self.name.clone(),
                }
            }
            Err(e) => e,
        }
    }

    fn try_connect(&self) -> Result<Card, pcsc::Error> {
        self.context
            .connect(&self.c_name, ShareMode::Shared, protocols(self.preference))
    }
}

impl CardReader for PcscReader {
    fn name(&self) -> &str {
        &self.name
    }

    fn is_connected(&self) -> bool {
        self.card.is_some()
    }

    fn status(&self) -> ReaderState {
        let ask = |context: &Context| {
            let mut states = [pcsc::ReaderState::new(self.c_name.clone(), State::UNAWARE)];
            context
                .get_status_change(Duration::ZERO, &mut states)
                .map(|()| reader_state_of(&states[0]))
        };
        let answer = match ask(&self.context) {
            // The context died with an earlier pcscd: ask through a new one.
            Err(e) if is_service_error(e) => match establish_context() {
                Ok(context) => ask(&context),
                Err(_) => Err(e),
            },
            answer => answer,
        };
        answer.unwrap_or_else(|err| {
            tracing::debug!(reader = %self.name, %err, "reader status unavailable");
            ReaderState::Unavailable
        })
    }

    fn connect(&mut self, protocol: ProtocolPreference) -> Result<Atr, ReaderError> {
        self.disconnect()?;
        self.preference = protocol;
        let card = match self.try_connect() {
            Err(e) if is_service_error(e) => {
                self.context = establish_context()?;
                self.try_connect()
            }
            card => card,
        }
        .map_err(|e| self.error(e, "connect"))?;
        let atr = card_atr(&card).map_err(|e| self.error(e, "connect"))?;
        tracing::debug!(reader = %self.name, %atr, "card connected");
        self.card = Some(card);
        Ok(atr)
    }

    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        let Self {
            name,
            card,
            preference,
            receive,
            ..
        } = self;
        let Some(card) = card.as_mut() else {
            return Err(ReaderError::NotConnected {
                reader: name.clone(),
            });
        };
        let result = match card.transmit(apdu, receive) {
            Err(pcsc::Error::ResetCard) => {
                // Another application reset the card. pcsc-lite refuses this
                // handle until it acknowledges with a reconnect; the card's
                // session state (selected file, verified PIN) is gone, which
                // the caller sees in the card's answer.
                tracing::info!(reader = %name, "card was reset by another application; reconnecting");
                card.reconnect(
                    ShareMode::Shared,
                    protocols(*preference),
                    Disposition::LeaveCard,
                )
                .and_then(|()| card.transmit(apdu, receive))
            }
            result => result,
        };
        match result {
            Ok(response) => Ok(response.to_vec()),
            Err(e) if is_service_error(e) => Err(self.session_lost()),
            // The command's header names it in the error (formatted only then).
            Err(e) => Err(self.error(e, &hex_upper(&apdu[..apdu.len().min(4)]))),
        }
    }

    fn reconnect(&mut self, reset: bool) -> Result<Atr, ReaderError> {
        let disposition = if reset {
            Disposition::ResetCard
        } else {
            Disposition::LeaveCard
        };
        let preference = self.preference;
        let result = match self.card.as_mut() {
            None => {
                return Err(ReaderError::NotConnected {
                    reader: self.name.clone(),
                });
            }
            Some(card) => card
                .reconnect(ShareMode::Shared, protocols(preference), disposition)
                .and_then(|()| card_atr(card)),
        };
        match result {
            Ok(atr) => Ok(atr),
            Err(e) if is_service_error(e) => Err(self.session_lost()),
            Err(e) => Err(self.error(e, "reconnect")),
        }
    }

    fn disconnect(&mut self) -> Result<(), ReaderError> {
        let Some(card) = self.card.take() else {
            return Ok(());
        };
        match card.disconnect(Disposition::LeaveCard) {
            Ok(()) => Ok(()),
            // A card that is gone, or a session that died with pcscd, has
            // nothing left to disconnect.
            Err((_, pcsc::Error::RemovedCard | pcsc::Error::NoSmartcard)) => Ok(()),
            Err((_, e)) if is_service_error(e) => Ok(()),
            Err((_, e)) => Err(self.error(e, "disconnect")),
        }
    }
}

impl Drop for PcscReader {
    fn drop(&mut self) {
        if let Err(err) = self.disconnect() {
            tracing::debug!(reader = %self.name, %err, "disconnect on drop failed");
        }
    }
}

impl std::fmt::Debug for PcscContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcscContext").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for PcscReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcscReader")
            .field("name", &self.name)
            .field("connected", &self.card.is_some())
            .field("preference", &self.preference)
            .finish()
    }
}

pub(super) fn establish_context() -> Result<Context, ReaderError> {
    Context::establish(Scope::User)
        .map_err(|e| ReaderError::from_pcsc(e, "", "establish a PC/SC context", None))
}

pub(super) fn list_reader_names(context: &Context) -> Result<Vec<String>, ReaderError> {
    reader_names(context.list_readers_owned())
}

fn reader_names(listed: Result<Vec<CString>, pcsc::Error>) -> Result<Vec<String>, ReaderError> {
    let names = listed.map_err(|e| ReaderError::from_pcsc(e, "", "list readers", None))?;
    Ok(names
        .into_iter()
        .map(|n| n.to_string_lossy().into_owned())
        .collect())
}

/// Whether a PC/SC failure means the context's link to pcscd is gone: pcscd
/// stopped, or restarted since the context was made (pcsc-lite reports a
/// broken link as a communication error or an unknown handle).
pub(super) fn is_service_error(err: pcsc::Error) -> bool {
    matches!(
        err,
        pcsc::Error::NoService
            | pcsc::Error::ServiceStopped
            | pcsc::Error::Shutdown
            | pcsc::Error::CommError
            | pcsc::Error::InvalidHandle
    )
}

/// What a reader holds, from one reader's SCardGetStatusChange report.
pub(crate) fn reader_state_of(state: &pcsc::ReaderState) -> ReaderState {
    reader_state(state.event_state(), state.atr())
}

/// What a reader holds, from the state bits SCardGetStatusChange reported.
pub(super) fn reader_state(state: State, atr: &[u8]) -> ReaderState {
    if state.intersects(State::UNKNOWN | State::UNAVAILABLE | State::IGNORE) {
        ReaderState::Unavailable
    } else if state.contains(State::MUTE) {
        ReaderState::Mute
    } else if state.contains(State::PRESENT) {
        ReaderState::Present { atr: Atr::new(atr) }
    } else if state.contains(State::EMPTY) {
        ReaderState::Empty
    } else {
        ReaderState::Unavailable
    }
}

fn protocols(preference: ProtocolPreference) -> Protocols {
    match preference {
        ProtocolPreference::T0 => Protocols::T0,
        ProtocolPreference::T1 => Protocols::T1,
        ProtocolPreference::Any => Protocols::T0 | Protocols::T1,
    }
}

fn card_atr(card: &Card) -> Result<Atr, pcsc::Error> {
    Ok(Atr::new(card.status2_owned()?.atr()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_bits_map_to_reader_states() {
        let atr = [0x3B, 0x02, 0x14, 0x50];
        assert_eq!(
            reader_state(State::CHANGED | State::PRESENT | State::INUSE, &atr),
            ReaderState::Present { atr: Atr::new(atr) }
        );
        assert_eq!(reader_state(State::EMPTY, &[]), ReaderState::Empty);
        assert_eq!(
            reader_state(State::PRESENT | State::MUTE, &[]),
            ReaderState::Mute
        );
        assert_eq!(
            reader_state(State::UNKNOWN | State::UNAVAILABLE, &[]),
            ReaderState::Unavailable
        );
        assert_eq!(
            reader_state(State::UNAVAILABLE | State::EMPTY, &[]),
            ReaderState::Unavailable
        );
    }

    #[test]
    fn preferences_ask_for_the_right_protocols() {
        assert_eq!(protocols(ProtocolPreference::T0), Protocols::T0);
        assert_eq!(protocols(ProtocolPreference::T1), Protocols::T1);
        assert_eq!(
            protocols(ProtocolPreference::Any),
            Protocols::T0 | Protocols::T1
        );
    }
}
