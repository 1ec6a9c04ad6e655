//! The PTP container decoder (what the hub reads from a camera) and the
//! datasets inside data containers: random bytes split at a fuzzer-chosen
//! point never panic, decode alike however split, every container
//! re-encodes to itself, every ObjectInfo and DeviceInfo parsed rebuilds
//! to one that parses the same, and a session fed the containers never
//! panics.
#![no_main]

use std::io::Cursor;
use std::num::NonZeroU32;
use std::time::Instant;

use cardhub_protocols::ptp::{
    Container, ContainerDecoder, DeviceInfo, ObjectInfo, OperationCode, Session, parse_u32_array,
};
use libfuzzer_sys::fuzz_target;

/// The datasets a data container may hold, each parsed and rebuilt.
fn datasets(bytes: &[u8]) {
    if let Ok(info) = ObjectInfo::parse(bytes) {
        let again = info.to_bytes().expect("a parsed ObjectInfo rebuilds");
        assert_eq!(ObjectInfo::parse(&again), Ok(info));
    }
    if let Ok(info) = DeviceInfo::parse(bytes) {
        let again = info.to_bytes().expect("a parsed DeviceInfo rebuilds");
        assert_eq!(DeviceInfo::parse(&again), Ok(info));
    }
    let _ = parse_u32_array("fuzz", bytes);
}

fn decode(pieces: &[&[u8]]) -> Vec<Result<Container, String>> {
    let mut decoder = ContainerDecoder::with_limit(1 << 16);
    let mut out = Vec::new();
    for piece in pieces {
        decoder.push(piece);
        while let Some(decoded) = decoder.decode() {
            if let Ok(container) = &decoded {
                let bytes = container.to_bytes();
                assert_eq!(
                    Container::parse(&mut Cursor::new(&bytes[..])).as_ref(),
                    Ok(container)
                );
                if let Container::Data { data, .. } = container {
                    datasets(data);
                }
            }
            out.push(decoded.map_err(|e| e.to_string()));
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
    assert_eq!(whole, decode(&[&bytes[..at], &bytes[at..]]));
    datasets(bytes);

    // A session waiting for a photo, fed whatever came.
    let now = Instant::now();
    let mut session = Session::new();
    let _ = session.open(NonZeroU32::MIN, now);
    let _ = session.receive(
        Container::response(cardhub_protocols::ptp::ResponseCode::Ok, 0, []),
        now,
    );
    let _ = session.command(OperationCode::GetObject, &[1], now);
    for container in whole.into_iter().flatten() {
        let _ = session.receive(container, now);
    }
});
