//! Property tests of the PTP codec: every container, ObjectInfo and
//! DeviceInfo round-trips through its bytes, a container stream decodes
//! to the same containers however it is split, and no bytes make a parser
//! panic.

use std::io::Cursor;

use proptest::prelude::*;

use super::*;

fn params(max: usize) -> impl Strategy<Value = Params> {
    prop::collection::vec(any::<u32>(), 0..=max)
        .prop_map(|v| Params::new(&v).expect("within the limit"))
}

fn container() -> impl Strategy<Value = Container> {
    prop_oneof![
        (any::<u16>(), any::<u32>(), params(MAX_PARAMS)).prop_map(|(c, t, p)| Container::Command {
            code: OperationCode::from_u16(c),
            transaction_id: t,
            params: p
        }),
        (
            any::<u16>(),
            any::<u32>(),
            prop::collection::vec(any::<u8>(), 0..200)
        )
            .prop_map(|(c, t, d)| Container::Data {
                code: OperationCode::from_u16(c),
                transaction_id: t,
                data: d
            }),
        (any::<u16>(), any::<u32>(), params(MAX_PARAMS)).prop_map(|(c, t, p)| {
            Container::Response {
                code: ResponseCode::from_u16(c),
                transaction_id: t,
                params: p,
            }
        }),
        (any::<u16>(), any::<u32>(), params(MAX_EVENT_PARAMS)).prop_map(|(c, t, p)| {
            Container::Event {
                code: EventCode::from_u16(c),
                transaction_id: t,
                params: p,
            }
        }),
    ]
}

/// Strings a PTP string holds: up to 254 UTF-16 units, any characters but
/// NUL (which ends a PTP string).
fn ptp_string() -> impl Strategy<Value = String> {
    prop::collection::vec(
        any::<char>().prop_filter("NUL ends a PTP string", |c| *c != '\0'),
        0..40,
    )
    .prop_map(|chars| chars.into_iter().collect::<String>())
}

fn object_info() -> impl Strategy<Value = ObjectInfo> {
    (
        (
            any::<u32>(),
            any::<u16>(),
            any::<u16>(),
            any::<u32>(),
            any::<u16>(),
            any::<u32>(),
        ),
        (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
        ),
        (any::<u16>(), any::<u32>(), any::<u32>()),
        (ptp_string(), ptp_string(), ptp_string(), ptp_string()),
    )
        .prop_map(|(a, b, c, s)| ObjectInfo {
            storage_id: a.0,
            object_format: ObjectFormat::from_u16(a.1),
            protection_status: a.2,
            compressed_size: a.3,
            thumb_format: ObjectFormat::from_u16(a.4),
            thumb_compressed_size: a.5,
            thumb_width: b.0,
            thumb_height: b.1,
            image_width: b.2,
            image_height: b.3,
            image_bit_depth: b.4,
            parent_object: b.5,
            association_type: c.0,
            association_desc: c.1,
            sequence_number: c.2,
            filename: s.0,
            capture_date: s.1,
            modification_date: s.2,
            keywords: s.3,
        })
}

fn codes() -> impl Strategy<Value = Vec<u16>> {
    prop::collection::vec(any::<u16>(), 0..20)
}

fn device_info() -> impl Strategy<Value = DeviceInfo> {
    (
        (
            any::<u16>(),
            any::<u32>(),
            any::<u16>(),
            ptp_string(),
            any::<u16>(),
        ),
        (codes(), codes(), codes(), codes(), codes()),
        (ptp_string(), ptp_string(), ptp_string(), ptp_string()),
    )
        .prop_map(|(a, c, s)| DeviceInfo {
            standard_version: a.0,
            vendor_extension_id: a.1,
            vendor_extension_version: a.2,
            vendor_extension_desc: a.3,
            functional_mode: a.4,
            operations_supported: c.0.into_iter().map(OperationCode::from_u16).collect(),
            events_supported: c.1.into_iter().map(EventCode::from_u16).collect(),
            device_properties_supported: c.2,
            capture_formats: c.3.into_iter().map(ObjectFormat::from_u16).collect(),
            image_formats: c.4.into_iter().map(ObjectFormat::from_u16).collect(),
            manufacturer: s.0,
            model: s.1,
            device_version: s.2,
            serial_number: s.3,
        })
}

proptest! {
    // No regression files: they would land outside this module's folder;
    // a failure prints its minimal case, which becomes a byte-literal test.
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn ptp_containers_round_trip(c in container()) {
        let bytes = c.to_bytes();
        prop_assert_eq!(bytes.len(), c.encoded_len());
        let mut cursor = Cursor::new(&bytes[..]);
        prop_assert_eq!(Container::check(&mut cursor, MAX_CONTAINER_LEN), Ok(()));
        prop_assert_eq!(cursor.position() as usize, bytes.len());
        prop_assert_eq!(Container::parse(&mut Cursor::new(&bytes[..])), Ok(c));
    }

    #[test]
    fn ptp_a_stream_decodes_alike_however_split(
        cs in prop::collection::vec(container(), 0..8),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let mut wire = Vec::new();
        for c in &cs {
            c.encode_into(&mut wire);
        }
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
        points.sort_unstable();
        let mut decoder = ContainerDecoder::new();
        let mut out = Vec::new();
        let mut from = 0;
        for to in points.into_iter().chain([wire.len()]) {
            decoder.push(&wire[from..to]);
            from = to;
            while let Some(c) = decoder.decode() {
                out.push(c.expect("encoded containers decode"));
            }
        }
        prop_assert_eq!(out, cs);
        prop_assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn ptp_object_info_round_trips(info in object_info()) {
        let bytes = info.to_bytes().expect("strings under 254 units");
        prop_assert_eq!(ObjectInfo::parse(&bytes), Ok(info));
    }

    #[test]
    fn ptp_device_info_round_trips(info in device_info()) {
        let bytes = info.to_bytes().expect("strings under 254 units");
        prop_assert_eq!(DeviceInfo::parse(&bytes), Ok(info));
    }

    #[test]
    fn ptp_parsers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut cursor = Cursor::new(&bytes[..]);
        let checked = Container::check(&mut cursor, 1024);
        let parsed = Container::parse_with_limit(&mut Cursor::new(&bytes[..]), 1024);
        // The two steps agree: a checked container parses, an invalid
        // header fails parsing with the same error.
        match checked {
            Ok(()) => prop_assert!(parsed.is_ok()),
            Err(CheckError::Invalid(e)) => prop_assert_eq!(parsed, Err(e)),
            Err(CheckError::Incomplete { .. }) => {
                let truncated = matches!(parsed, Err(ContainerError::Truncated { .. }));
                prop_assert!(truncated);
            }
        }
        let _ = ObjectInfo::parse(&bytes);
        let _ = DeviceInfo::parse(&bytes);
        let _ = parse_u32_array("test", &bytes);
    }
}
