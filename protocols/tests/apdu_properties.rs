//! Property tests of the APDU and TLV codecs: decoders never panic on
//! arbitrary bytes, and what the encoders write decodes back to the same
//! value.

use cardhub_protocols::apdu::{Case, Command, Response, StatusWord, tlv};
use proptest::prelude::*;

fn le() -> impl Strategy<Value = Option<usize>> {
    prop_oneof![
        Just(None),
        (1usize..=256).prop_map(Some),
        Just(Some(257)),
        Just(Some(65_535)),
        Just(Some(65_536)),
    ]
}

fn command() -> impl Strategy<Value = Command> {
    (
        any::<[u8; 4]>(),
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..=255),
            proptest::collection::vec(any::<u8>(), 256..700),
        ],
        le(),
    )
        .prop_map(|([cla, ins, p1, p2], data, le)| Command {
            cla,
            ins,
            p1,
            p2,
            data,
            le,
        })
}

/// Walks nested TLVs to the bottom; never panics.
fn walk(tlvs: &[tlv::Tlv<'_>], depth: usize) -> usize {
    tlvs.iter()
        .map(|t| match t.children() {
            Ok(kids) if depth < 64 => 1 + walk(&kids, depth + 1),
            _ => 1,
        })
        .sum()
}

/// A valid BER tag of one to three bytes.
fn tag() -> impl Strategy<Value = u32> {
    prop_oneof![
        any::<u8>()
            .prop_filter("not a multi-byte marker", |b| b & 0x1F != 0x1F)
            .prop_map(u32::from),
        (any::<u8>(), 0u8..0x80).prop_map(|(a, b)| u32::from(a | 0x1F) << 8 | u32::from(b)),
        (any::<u8>(), 0x80u8..=0xFF, 0u8..0x80)
            .prop_map(|(a, b, c)| u32::from(a | 0x1F) << 16 | u32::from(b) << 8 | u32::from(c)),
    ]
}

proptest! {
    #[test]
    fn command_parse_never_panics_and_reencodes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(cmd) = Command::parse(&bytes) {
            let again = cmd.to_bytes().expect("a parsed command is encodable");
            prop_assert_eq!(Command::parse(&again), Ok(cmd));
        }
    }

    #[test]
    fn commands_round_trip(cmd in command()) {
        let bytes = cmd.to_bytes().expect("valid command");
        let lc = cmd.data.len();
        let expected_len = 4 + match cmd.case() {
            Case::Case1 => 0,
            Case::Case2Short => 1,
            Case::Case3Short => 1 + lc,
            Case::Case4Short => 2 + lc,
            Case::Case2Extended => 3,
            Case::Case3Extended => 3 + lc,
            Case::Case4Extended => 5 + lc,
        };
        prop_assert_eq!(bytes.len(), expected_len);
        prop_assert_eq!(Command::parse(&bytes), Ok(cmd));
    }

    #[test]
    fn responses_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        match Response::parse(&bytes) {
            Ok(r) => {
                prop_assert_eq!(r.to_bytes(), bytes);
                let _ = r.sw.to_string();
            }
            Err(_) => prop_assert!(bytes.len() < 2),
        }
    }

    #[test]
    fn status_words_always_explain_themselves(sw in any::<u16>()) {
        let text = StatusWord(sw).to_string();
        let prefix = format!("{sw:04X} (");
        prop_assert!(text.starts_with(&prefix), "{}", text);
        prop_assert!(!StatusWord(sw).meaning().is_empty());
    }

    #[test]
    fn tlv_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(tlvs) = tlv::parse(&bytes) {
            walk(&tlvs, 0);
        }
        let _ = tlv::parse_records(&bytes);
        let _ = tlv::parse_record(&bytes);
    }

    #[test]
    fn tlvs_round_trip(items in proptest::collection::vec((tag(), proptest::collection::vec(any::<u8>(), 0..300)), 0..5)) {
        let bytes: Vec<u8> = items.iter().flat_map(|(t, v)| tlv::encode(*t, v)).collect();
        let parsed = tlv::parse(&bytes).expect("own encoding parses");
        let back: Vec<(u32, Vec<u8>)> = parsed.iter().map(|t| (t.tag, t.value.to_vec())).collect();
        prop_assert_eq!(back, items);
    }

    #[test]
    fn simple_records_round_trip(tag in any::<u8>(), value in proptest::collection::vec(any::<u8>(), 0..=255)) {
        let bytes = tlv::encode_record(tag, &value).expect("short value");
        prop_assert_eq!(tlv::parse_record(&bytes), Ok((tag, &value[..])));
    }
}
