//! The running camera: [`start`] binds a TCP listener and serves one host
//! at a time (as a USB camera has one), the containers of
//! `cardhub_devices::camera::TcpTransport` back to back, events on the same
//! stream marked by their type (4). Each connection is a cable plugged
//! in: when it drops, the camera's session closes; its memory card (the
//! objects) stays. [`RunningCamera`] reports and arms faults; dropping it
//! (or [`RunningCamera::stop`]) ends the thread.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use cardhub_protocols::ptp::{Container, ContainerDecoder, OperationCode};

use super::faults::CameraFaults;
use super::picture::SimPhoto;
use super::responder::CameraResponder;

/// The read buffer.
const READ_CHUNK: usize = 16 * 1024;

/// What a simulated camera is started with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CameraSimConfig {
    /// Where it listens (port 0: any free port).
    pub listen: SocketAddr,
    /// The photo it takes.
    pub photo: SimPhoto,
}

impl Default for CameraSimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            photo: SimPhoto::default(),
        }
    }
}

/// The state behind the lock.
#[derive(Debug)]
struct State {
    responder: CameraResponder,
    faults: CameraFaults,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    stop: AtomicBool,
    /// The connection being served, to cut it on stop.
    connection: Mutex<Option<TcpStream>>,
    connections: AtomicU64,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic in the serving thread leaves the state as it was between
        // two containers: still consistent.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A simulated camera serving on TCP.
#[derive(Debug)]
pub struct RunningCamera {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Starts a simulated camera; its address is [`RunningCamera::addr`].
pub fn start(config: CameraSimConfig) -> io::Result<RunningCamera> {
    let listener = TcpListener::bind(config.listen)?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            responder: CameraResponder::new(config.photo),
            faults: CameraFaults::default(),
        }),
        stop: AtomicBool::new(false),
        connection: Mutex::new(None),
        connections: AtomicU64::new(0),
    });
    let serving = Arc::clone(&shared);
    let thread = thread::Builder::new()
        .name(format!("sim-camera {addr}"))
        .spawn(move || serve(&listener, &serving))?;
    Ok(RunningCamera {
        addr,
        shared,
        thread: Some(thread),
    })
}

impl RunningCamera {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where it listens, as `host:port`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Arms (or clears) faults.
    pub fn set_faults(&self, faults: CameraFaults) {
        let mut state = self.shared.state();
        state
            .responder
            .set_announce_objects(!faults.no_object_added);
        state.faults = faults;
    }

    /// The faults armed now (one-shot faults clear when they fire).
    pub fn faults(&self) -> CameraFaults {
        self.shared.state().faults
    }

    /// Changes the photo the next captures take.
    pub fn set_photo(&self, photo: SimPhoto) {
        self.shared.state().responder.set_photo(photo);
    }

    /// Objects on the memory card.
    pub fn objects(&self) -> usize {
        self.shared.state().responder.objects()
    }

    /// Photos taken.
    pub fn captures(&self) -> u64 {
        self.shared.state().responder.captures()
    }

    /// Whether the camera has a session open.
    pub fn session_open(&self) -> bool {
        self.shared.state().responder.session().is_some()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Stops serving and joins the thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(stream) = lock(&self.shared.connection).take() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        // Wakes the accept; it sees the flag and returns.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        let _ = thread.join();
    }
}

impl Drop for RunningCamera {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn serve(listener: &TcpListener, shared: &Shared) {
    for incoming in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = incoming else { continue };
        shared.connections.fetch_add(1, Ordering::SeqCst);
        let _ = stream.set_nodelay(true);
        *lock(&shared.connection) = stream.try_clone().ok();
        // A stop between the accept and the line above found no
        // connection to cut: it is seen here instead.
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        if let Err(e) = serve_connection(shared, stream) {
            tracing::debug!(error = %e, "simulated camera: host link ended");
        }
        *lock(&shared.connection) = None;
        // The cable is out: the camera's session is gone.
        shared.state().responder.close_session();
    }
}

fn serve_connection(shared: &Shared, mut stream: TcpStream) -> io::Result<()> {
    let mut decoder = ContainerDecoder::new();
    let mut chunk = vec![0u8; READ_CHUNK];
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        decoder.push(&chunk[..n]);
        while let Some(decoded) = decoder.decode() {
            // Bytes that are not a container: a USB camera stalls its
            // endpoint; this one drops the link.
            let container = decoded.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let (answers, faults) = {
                let mut state = shared.state();
                if std::mem::take(&mut state.faults.drop_session) {
                    state.responder.close_session();
                }
                let answers = state.responder.handle(container);
                let faults = state.faults;
                if faults.disconnect_mid_transfer && answers.iter().any(is_photo_data) {
                    state.faults.disconnect_mid_transfer = false;
                }
                (answers, faults)
            };
            if faults.slow_ms > 0 {
                thread::sleep(Duration::from_millis(faults.slow_ms));
            }
            for answer in &answers {
                let bytes = answer.to_bytes();
                if faults.disconnect_mid_transfer && is_photo_data(answer) {
                    stream.write_all(&bytes[..bytes.len() / 2])?;
                    stream.flush()?;
                    return stream.shutdown(Shutdown::Both);
                }
                stream.write_all(&bytes)?;
            }
        }
    }
}

fn is_photo_data(container: &Container) -> bool {
    matches!(
        container,
        Container::Data {
            code: OperationCode::GetObject,
            ..
        }
    )
}

#[cfg(test)]
mod tests {
    use cardhub_protocols::ptp::{ContainerKind, EventCode, ResponseCode};

    use super::*;

    /// A raw host link: containers out, everything that comes back
    /// until the response (or the end of the stream).
    struct Host {
        stream: TcpStream,
        decoder: ContainerDecoder,
    }

    impl Host {
        fn connect(camera: &RunningCamera) -> Self {
            let stream = TcpStream::connect(camera.addr()).expect("the camera listens");
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .expect("a timeout");
            Self {
                stream,
                decoder: ContainerDecoder::new(),
            }
        }

        /// Sends `command`; returns what came back up to its response, and
        /// whether the stream ended before it.
        fn ask(&mut self, command: Container) -> (Vec<Container>, bool) {
            self.stream.write_all(&command.to_bytes()).expect("sent");
            let mut got = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                while let Some(c) = self.decoder.decode() {
                    let c = c.expect("the camera sends containers");
                    let done = matches!(c, Container::Response { .. });
                    got.push(c);
                    if done {
                        return (got, false);
                    }
                }
                match self.stream.read(&mut chunk).expect("no timeout") {
                    0 => return (got, true),
                    n => self.decoder.push(&chunk[..n]),
                }
            }
        }

        fn open(&mut self) -> ResponseCode {
            let (got, _) = self.ask(Container::command(OperationCode::OpenSession, 0, [1]));
            match got.last() {
                Some(Container::Response { code, .. }) => *code,
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn camera_serves_events_on_the_stream_and_closes_the_session_with_the_link() {
        let camera = start(CameraSimConfig::default()).expect("binds");
        let mut host = Host::connect(&camera);
        assert_eq!(host.open(), ResponseCode::Ok);
        assert!(camera.session_open());
        let (got, _) = host.ask(Container::command(
            OperationCode::InitiateCapture,
            1,
            [0, 0],
        ));
        assert_eq!(got.len(), 1, "the response comes first: {got:?}");
        // The events follow it on the same stream, marked by their type,
        // ahead of the next answer.
        let (got, _) = host.ask(Container::command(OperationCode::GetStorageIDs, 2, []));
        let kinds: Vec<ContainerKind> = got.iter().map(Container::kind).collect();
        assert_eq!(
            kinds,
            [
                ContainerKind::Event,
                ContainerKind::Event,
                ContainerKind::Data,
                ContainerKind::Response
            ]
        );
        assert_eq!(
            got[0].as_event().map(|e| (e.code, e.params.get(0))),
            Some((EventCode::ObjectAdded, Some(1)))
        );
        assert_eq!(
            got[1].as_event().map(|e| e.code),
            Some(EventCode::CaptureComplete)
        );
        drop(host);

        // The next host is served only once the first is gone, and finds
        // no session open: the cable was out.
        let mut host = Host::connect(&camera);
        assert_eq!(host.open(), ResponseCode::Ok);
        assert_eq!(camera.connections(), 2);
        assert_eq!(camera.objects(), 1);
    }

    #[test]
    fn camera_cuts_the_photo_in_half_when_asked() {
        let camera = start(CameraSimConfig::default()).expect("binds");
        camera.set_faults(CameraFaults {
            disconnect_mid_transfer: true,
            ..CameraFaults::default()
        });
        let mut host = Host::connect(&camera);
        assert_eq!(host.open(), ResponseCode::Ok);
        host.ask(Container::command(
            OperationCode::InitiateCapture,
            1,
            [0, 0],
        ));
        let (got, ended) = host.ask(Container::command(OperationCode::GetObject, 2, [1]));
        assert!(ended, "the link dropped");
        let data: Vec<_> = got.iter().filter(|c| is_photo_data(c)).collect();
        assert!(data.is_empty(), "the data container never arrived whole");
        assert!(host.decoder.buffered() > 0, "half of it did");
        assert!(
            !camera.faults().disconnect_mid_transfer,
            "the fault fires once"
        );
    }
}
