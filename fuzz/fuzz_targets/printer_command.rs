//! The printer's command decoder (what a printer reads from its host):
//! random bytes split at a fuzzer-chosen point never panic, decode to the
//! same frames and errors as when they arrive whole, and every command
//! decoded re-encodes to bytes that decode to it again.
#![no_main]

use cardhub_protocols::printer::CommandDecoder;
use libfuzzer_sys::fuzz_target;

/// Small, so the fuzzer reaches "too large" quickly.
const MAX_PANEL: usize = 4096;

fn decode(pieces: &[&[u8]]) -> Vec<String> {
    let mut decoder = CommandDecoder::with_max_panel(MAX_PANEL);
    let mut out = Vec::new();
    for piece in pieces {
        decoder.push(piece);
        while let Some(event) = decoder.decode() {
            if let Ok(command) = &event {
                let wire = command
                    .to_bytes()
                    .expect("a decoded panel is within the limit");
                let mut again = CommandDecoder::with_max_panel(MAX_PANEL);
                again.push(&wire);
                assert_eq!(again.decode().as_ref(), Some(&Ok(command.clone())));
            }
            out.push(match event {
                Ok(c) => format!("{c:?}"),
                Err(e) => format!("error: {e} ({})", e.code()),
            });
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, bytes)) = data.split_first() else {
        return;
    };
    let at = usize::from(cut) % (bytes.len() + 1);
    let whole = decode(&[bytes]);
    let split = decode(&[&bytes[..at], &bytes[at..]]);
    assert_eq!(whole, split);
});
