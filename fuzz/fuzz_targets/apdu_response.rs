//! Response APDU parsing (what the hub reads from a card): never panics,
//! re-encodes to the same bytes, and every status word explains itself.
#![no_main]

use cardhub_protocols::apdu::Response;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = Response::parse(data) {
        assert_eq!(r.to_bytes(), data);
        let _ = r.sw.to_string();
        let _ = (
            r.sw.tries_left(),
            r.sw.more_data_available(),
            r.sw.correct_le(),
        );
    }
});
