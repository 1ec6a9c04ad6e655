//! BER-TLV and simple-record parsing: never panics, nested values included.
#![no_main]

use cardhub_protocols::apdu::tlv;
use libfuzzer_sys::fuzz_target;

/// Opens every constructed value down to `depth` levels.
fn walk(tlvs: &[tlv::Tlv<'_>], depth: usize) {
    for t in tlvs {
        if depth > 0
            && let Ok(children) = t.children()
        {
            walk(&children, depth - 1);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(tlvs) = tlv::parse(data) {
        walk(&tlvs, 32);
    }
    let _ = tlv::parse_one(data);
    let _ = tlv::parse_record(data);
    let _ = tlv::parse_records(data);
});
