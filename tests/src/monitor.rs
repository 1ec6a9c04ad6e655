//! A monitoring screen for the end-to-end tests: a real WebSocket client
//! (tungstenite over a plain TCP socket) on a hub's `/ws/monitor`.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

/// One connected screen.
pub struct Screen {
    ws: WebSocket<TcpStream>,
}

/// How long one read waits before a test's own deadline is looked at.
const READ_SLICE: Duration = Duration::from_millis(200);

impl Screen {
    /// Connects to `base` (`http://127.0.0.1:PORT`) with optional upgrade
    /// headers; the socket's receive buffer is `recv_buffer` bytes when
    /// given (a small one makes a slow screen fall behind sooner).
    pub fn connect_with(
        base: &str,
        headers: &[(&str, &str)],
        recv_buffer: Option<usize>,
    ) -> Result<Screen, tungstenite::Error> {
        let url = format!("{}/ws/monitor", base.replacen("http://", "ws://", 1));
        let mut request = url.as_str().into_client_request()?;
        for (k, v) in headers {
            request.headers_mut().insert(
                tungstenite::http::HeaderName::from_bytes(k.as_bytes()).expect("a header name"),
                v.parse().expect("a header value"),
            );
        }
        let addr = base.trim_start_matches("http://");
        let socket = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )?;
        if let Some(size) = recv_buffer {
            socket.set_recv_buffer_size(size)?;
        }
        let addr: std::net::SocketAddr = addr.parse().expect("the hub's address");
        socket.connect(&addr.into())?;
        let stream: TcpStream = socket.into();
        stream.set_read_timeout(Some(READ_SLICE))?;
        let (ws, _) = tungstenite::client(request, stream).map_err(|e| match e {
            tungstenite::HandshakeError::Failure(e) => e,
            tungstenite::HandshakeError::Interrupted(_) => {
                tungstenite::Error::Io(std::io::Error::other("handshake interrupted"))
            }
        })?;
        Ok(Screen { ws })
    }

    /// Connects and says hello with `token` and `extra` hello fields;
    /// returns the screen after its `welcome`.
    pub fn open(base: &str, token: &str, extra: Value) -> Screen {
        let mut screen = Screen::connect_with(base, &[], None).expect("the hub upgrades");
        screen.hello(token, extra);
        screen
    }

    /// Sends a hello and waits for the welcome.
    pub fn hello(&mut self, token: &str, extra: Value) -> Value {
        let mut hello = json!({"v": 1, "type": "hello", "token": token});
        if let Value::Object(fields) = extra {
            for (k, v) in fields {
                hello[k] = v;
            }
        }
        self.send(&hello);
        self.expect("welcome")
    }

    /// Sends a JSON message.
    pub fn send(&mut self, message: &Value) {
        self.send_text(&message.to_string());
    }

    /// Sends raw text.
    pub fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::text(text))
            .expect("the message is sent");
    }

    /// Sends a raw WebSocket message.
    pub fn send_raw(&mut self, message: Message) {
        self.ws.send(message).expect("the message is sent");
    }

    /// The next JSON message within `timeout`; `None` on timeout. Panics
    /// when the hub closes the connection.
    pub fn next(&mut self, timeout: Duration) -> Option<Value> {
        match self.next_or_closed(timeout) {
            Ok(v) => v,
            Err(why) => panic!("the hub closed the screen: {why}"),
        }
    }

    /// The next JSON message within `timeout` (`Ok(None)` on timeout), or
    /// why the connection ended.
    pub fn next_or_closed(&mut self, timeout: Duration) -> Result<Option<Value>, String> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.ws.read() {
                Ok(Message::Text(text)) => {
                    return Ok(Some(
                        serde_json::from_str(text.as_str()).expect("the hub sends JSON"),
                    ));
                }
                Ok(Message::Close(frame)) => return Err(format!("close frame {frame:?}")),
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(e.to_string()),
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
        }
    }

    /// Messages until one of type `kind` (within 10 s); returns it.
    pub fn expect(&mut self, kind: &str) -> Value {
        self.until(Duration::from_secs(10), |m| m["type"] == kind)
            .unwrap_or_else(|| panic!("no `{kind}` message within 10 s"))
    }

    /// Messages until `pred` holds for one (returned), or `timeout`.
    pub fn until(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&Value) -> bool,
    ) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if let Some(m) = self.next(left)
                && pred(&m)
            {
                return Some(m);
            }
        }
        None
    }

    /// Closes the connection.
    pub fn close(mut self) {
        let _ = self.ws.close(None);
        let _ = self.ws.flush();
    }
}

/// The changes of a `deltas` message or the entities of a `snapshot`.
pub fn entities(message: &Value) -> &[Value] {
    message
        .get("changes")
        .or_else(|| message.get("entities"))
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}
