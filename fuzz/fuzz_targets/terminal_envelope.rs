//! The `/ws/terminal` frame decoders (what the hub reads from a branch
//! terminal, and the terminal from the hub): any bytes as a text frame
//! never panic; a frame that decodes re-encodes to a frame that decodes to
//! the same envelope; the version probe never refuses a frame the full
//! decoder takes; and the delivery state machines fed the decoded
//! sequence numbers never panic and never go backwards.
#![no_main]

use cardhub_protocols::terminal::{
    Envelope, HubMessage, Inbox, Outbox, TerminalMessage, VERSION, VersionProbe,
};
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;

fn round_trip<M>(text: &str) -> Option<Envelope<M>>
where
    M: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug + cardhub_protocols::terminal::Correlated,
{
    let envelope: Envelope<M> = serde_json::from_str(text).ok()?;
    let probe: VersionProbe =
        serde_json::from_str(text).expect("a frame the decoder takes has a readable version");
    assert_eq!(probe.v, envelope.v);
    let again = serde_json::to_string(&envelope).expect("a decoded envelope encodes");
    let back: Envelope<M> = serde_json::from_str(&again).expect("an encoded envelope decodes");
    assert_eq!(back, envelope);
    Some(envelope)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = serde_json::from_str::<VersionProbe>(text).map(VersionProbe::check);
    let mut inbox = Inbox::new();
    if let Some(envelope) = round_trip::<TerminalMessage>(text)
        && envelope.v == VERSION
        && let TerminalMessage::DeviceEvent { seq, .. } = envelope.message
    {
        let before = inbox.last_seq();
        let _ = inbox.receive(seq);
        assert!(inbox.last_seq() >= before);
    }
    let mut outbox = Outbox::new(4);
    for n in 0..3u8 {
        let _ = outbox.push(n);
    }
    if let Some(envelope) = round_trip::<HubMessage>(text)
        && let HubMessage::Ack { seq } = envelope.message
    {
        let pending = outbox.len();
        let acked = outbox.ack(seq);
        assert!(outbox.len() <= pending);
        assert_eq!(acked.is_err(), seq > outbox.last_sent());
    }
});
