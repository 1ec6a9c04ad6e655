//! The running reader: [`start`] makes a pseudo-terminal pair (as the
//! printer simulator does: `serialport`'s `TTYPort::pair`, the slave kept
//! open so a host may open and close its path as often as it likes) and
//! serves the master on a thread of its own: frames in, the
//! [`ReaderMachine`]'s answers out. [`IdReaderControl`] is the control
//! surface (place or remove a card, arm a fault, watch the counters),
//! in-process; [`RunningIdReader::stop`] (or dropping it) ends the thread.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use cardhub_protocols::id_reader::{CardKind, Command, FrameDecoder, FrameError};
use serialport::{SerialPort, TTYPort};

use super::card::SimCard;
use super::machine::{CardState, Fault, ReaderMachine};

/// How often the serving thread looks whether the simulator stops (a pty
/// read cannot be interrupted from another thread).
const PTY_POLL: Duration = Duration::from_millis(50);

/// Bytes read at a time: requests are ten bytes.
const READ_CHUNK: usize = 1024;

/// Why the simulated reader could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdReaderSimError {
    /// The pseudo-terminal pair could not be made.
    #[error("cannot create a pseudo-terminal pair: {0}; is /dev/ptmx available?")]
    Pty(String),
    /// The operating system refused a thread.
    #[error("cannot start the simulated ID reader's thread: {0}")]
    Thread(#[source] io::Error),
}

/// What the reader has seen and holds, at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReaderSnapshot {
    /// Whether a card lies on the reader.
    pub card_present: bool,
    /// Its kind, when its marker names one.
    pub card: Option<CardKind>,
    /// How far it is (found, selected).
    pub state: CardState,
    /// Requests received (frames, good or bad; noise is not counted).
    pub requests: u64,
    /// Answers written to the line.
    pub answers: u64,
    /// Whether a fault is still armed.
    pub faults_pending: bool,
}

#[derive(Debug)]
struct Inner {
    machine: ReaderMachine,
    requests: u64,
    answers: u64,
    stopping: bool,
}

impl Inner {
    fn snapshot(&self) -> ReaderSnapshot {
        ReaderSnapshot {
            card_present: self.machine.has_card(),
            card: self.machine.card_kind(),
            state: self.machine.state(),
            requests: self.requests,
            answers: self.answers,
            faults_pending: self.machine.faults_pending(),
        }
    }
}

#[derive(Debug)]
struct Shared {
    inner: Mutex<Inner>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves usable state: every field
        // is valid on its own.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn change(&self, f: impl FnOnce(&mut Inner)) {
        f(&mut self.lock());
        self.changed.notify_all();
    }
}

/// Controls a running simulated reader from the test (or, later, the
/// CLI) that started it. Cheap to clone.
#[derive(Clone, Debug)]
pub struct IdReaderControl {
    shared: Arc<Shared>,
}

impl IdReaderControl {
    /// Puts `card` on the reader (replacing any).
    pub fn place(&self, card: SimCard) {
        self.shared.change(|i| i.machine.place(card));
    }

    /// Lifts the card off the reader.
    pub fn remove(&self) {
        self.shared.change(|i| i.machine.remove());
    }

    /// Arms a fault for the next command.
    pub fn arm(&self, fault: Fault) {
        self.shared.change(|i| i.machine.arm(fault));
    }

    /// Sets whether the SAM passes its self-test.
    pub fn set_sam_ok(&self, ok: bool) {
        self.shared.change(|i| i.machine.set_sam_ok(ok));
    }

    /// The reader now.
    pub fn snapshot(&self) -> ReaderSnapshot {
        self.shared.lock().snapshot()
    }

    /// Waits until `done` holds for the reader's snapshot (taken at every
    /// change); `false` on timeout.
    pub fn wait_until(&self, timeout: Duration, done: impl Fn(&ReaderSnapshot) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut inner = self.shared.lock();
        loop {
            if done(&inner.snapshot()) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            inner = self
                .shared
                .changed
                .wait_timeout(inner, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// A simulated reader serving its pty.
#[derive(Debug)]
pub struct RunningIdReader {
    shared: Arc<Shared>,
    path: PathBuf,
    thread: Option<JoinHandle<()>>,
}

impl RunningIdReader {
    /// The pty slave the host opens as a serial device.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The control handle.
    pub fn control(&self) -> IdReaderControl {
        IdReaderControl {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Stops serving and joins the thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.shared.change(|i| i.stopping = true);
        if thread.join().is_err() {
            tracing::error!("the simulated ID reader's thread panicked");
        }
        tracing::info!(path = %self.path.display(), "simulated ID reader stopped");
    }
}

impl Drop for RunningIdReader {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts a simulated reader holding `card` (or none) on a new pty.
pub fn start(card: Option<SimCard>) -> Result<RunningIdReader, IdReaderSimError> {
    let (mut master, slave) = TTYPort::pair().map_err(|e| IdReaderSimError::Pty(e.to_string()))?;
    let path = slave
        .name()
        .map(PathBuf::from)
        .ok_or_else(|| IdReaderSimError::Pty("the pty slave has no path".to_owned()))?;
    master
        .set_timeout(PTY_POLL)
        .map_err(|e| IdReaderSimError::Pty(e.to_string()))?;
    let shared = Arc::new(Shared {
        inner: Mutex::new(Inner {
            machine: ReaderMachine::new(card),
            requests: 0,
            answers: 0,
            stopping: false,
        }),
        changed: Condvar::new(),
    });
    let thread = {
        let shared = Arc::clone(&shared);
        thread::Builder::new()
            .name("idreadersim-pty".into())
            .spawn(move || serve(&shared, master, slave))
            .map_err(IdReaderSimError::Thread)?
    };
    tracing::info!(path = %path.display(), "simulated ID reader started");
    Ok(RunningIdReader {
        shared,
        path,
        thread: Some(thread),
    })
}

/// Serves the pty master until the simulator stops. `_slave` is held open
/// so the line exists while no host has it open.
fn serve(shared: &Shared, mut master: TTYPort, _slave: TTYPort) {
    let mut decoder = FrameDecoder::new();
    let mut chunk = [0u8; READ_CHUNK];
    loop {
        let read = master.read(&mut chunk);
        if shared.lock().stopping {
            return;
        }
        match read {
            Ok(n) => decoder.push(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut
                        | io::ErrorKind::WouldBlock
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                tracing::warn!(error = %e, "pty read failed; retrying");
                thread::sleep(PTY_POLL);
            }
        }
        while let Some(decoded) = decoder.decode() {
            if matches!(decoded, Err(FrameError::Garbage { .. })) {
                tracing::debug!("noise from the host ignored");
            }
            let request = decoded.and_then(|frame| Command::from_frame(&frame));
            let counted = !matches!(request, Err(FrameError::Garbage { .. }));
            let answer = {
                let mut inner = shared.lock();
                inner.requests += u64::from(counted);
                inner.machine.answer(request)
            };
            shared.changed.notify_all();
            let Some(bytes) = answer else { continue };
            match master.write_all(&bytes).and_then(|()| master.flush()) {
                Ok(()) => shared.change(|i| i.answers += 1),
                Err(e) => tracing::warn!(error = %e, "pty write failed; the answer is lost"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use cardhub_protocols::id_reader::{Response, Status};

    use super::*;
    use crate::id_reader::card::sample_resident;

    /// Opens the slave as a host would and reads `n` bytes of answer.
    fn exchange(path: &Path, request: &[u8], n: usize) -> Vec<u8> {
        let mut port = serialport::new(path.to_string_lossy(), 115_200)
            .timeout(Duration::from_secs(2))
            .open_native()
            .expect("the pty slave opens as a serial device");
        port.write_all(request).unwrap();
        let mut answer = vec![0; n];
        port.read_exact(&mut answer).unwrap();
        answer
    }

    #[test]
    fn the_pty_answers_with_the_reference_frames() {
        let reader = start(None).unwrap();
        let no_card = exchange(reader.path(), &Command::FindCard.to_bytes(), 11);
        assert_eq!(
            no_card,
            Response::status_only(Status::FindFailed).to_bytes()
        );
        let control = reader.control();
        control.place(SimCard::from_card(&sample_resident()).unwrap());
        let found = exchange(reader.path(), &Command::FindCard.to_bytes(), 11);
        assert_eq!(
            found,
            Response::status_only(Status::FindSucceeded).to_bytes()
        );
        assert!(control.wait_until(Duration::from_secs(2), |s| s.answers == 2));
        let snapshot = control.snapshot();
        assert_eq!(snapshot.requests, 2);
        assert_eq!(snapshot.state, CardState::Found);
        assert_eq!(snapshot.card, Some(CardKind::Resident));
        reader.stop();
    }

    #[test]
    fn a_corrupted_request_is_answered_with_a_checksum_error() {
        let reader = start(None).unwrap();
        let mut request = Command::SamStatus.to_bytes();
        request[9] ^= 0xFF;
        let mut with_noise = b"\x00\x01".to_vec();
        with_noise.extend_from_slice(&request);
        let answer = exchange(reader.path(), &with_noise, 11);
        assert_eq!(
            answer,
            Response::status_only(Status::ChecksumError).to_bytes()
        );
    }
}
