//! The printer's reply decoder (what the hub reads from a printer) and the
//! query values: random bytes split at a fuzzer-chosen point never panic,
//! decode alike however split, and every reply re-encodes to itself.
#![no_main]

use cardhub_protocols::printer::{
    PrinterInfo, Reply, ReplyDecoder, StatusReport, parse_card_position, parse_ribbon_count,
};
use libfuzzer_sys::fuzz_target;

fn decode(pieces: &[&[u8]]) -> Vec<Result<Reply, String>> {
    let mut decoder = ReplyDecoder::new();
    let mut out = Vec::new();
    for piece in pieces {
        decoder.push(piece);
        while let Some(event) = decoder.decode() {
            if let Ok(reply) = &event {
                let mut again = ReplyDecoder::new();
                again.push(&reply.to_bytes());
                assert_eq!(again.decode().as_ref(), Some(&Ok(reply.clone())));
                if let Reply::Value(v) = reply {
                    if let Ok(status) = StatusReport::parse(v) {
                        assert_eq!(StatusReport::parse(&status.to_wire()), Ok(status));
                    }
                    let _ = (
                        parse_card_position(v),
                        parse_ribbon_count(v),
                        PrinterInfo::parse(v),
                    );
                }
            }
            out.push(event.map_err(|e| e.to_string()));
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, bytes)) = data.split_first() else {
        return;
    };
    let at = usize::from(cut) % (bytes.len() + 1);
    assert_eq!(decode(&[bytes]), decode(&[&bytes[..at], &bytes[at..]]));
});
