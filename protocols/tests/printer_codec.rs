//! The printer command language as a byte stream: every command and reply
//! round-trips, a stream decodes to the same frames and errors however it
//! is split into reads, garbage never stops the decoder from finding the
//! next frame, and every decoding error is reachable from bytes.

use std::io::Cursor;

use cardhub_protocols::printer::{
    CR, CheckError, Command, CommandDecoder, CommandError, ESC, EjectionMode, ErrorCode, ErrorMode,
    InsertionMode, MAX_COMMAND_LINE, MAX_REPLY_LINE, Panel, Reply, ReplyDecoder, ReplyError,
    RibbonType, Station,
};
use proptest::prelude::*;

/// The decoders' panel limit in these tests: small, so "too large" is
/// cheap to produce.
const TEST_MAX_PANEL: usize = 64;

fn panel() -> impl Strategy<Value = Panel> {
    prop::sample::select(Panel::ALL.to_vec())
}

fn command() -> impl Strategy<Value = Command> {
    let simple = prop::sample::select(vec![
        Command::SetErrorMode(ErrorMode::Printer),
        Command::SetErrorMode(ErrorMode::Host),
        Command::SetInsertion(InsertionMode::Feeder),
        Command::SetEjection(EjectionMode::OutputHopper),
        Command::SetEjection(EjectionMode::Manual),
        Command::SetHoldAfterPrint(true),
        Command::SetHoldAfterPrint(false),
        Command::StartSequence,
        Command::Insert,
        Command::MoveTo(Station::Contact),
        Command::MoveTo(Station::Contactless),
        Command::Print,
        Command::Overlay,
        Command::Eject,
        Command::EjectToBezel,
        Command::Reject,
        Command::ClearError,
        Command::ReadStatus,
        Command::ReadCardPosition,
        Command::ReadRibbonCount,
        Command::ReadInfo,
    ]);
    prop_oneof![
        4 => simple,
        1 => "[a-z]{1,8}".prop_map(|r| Command::SetRibbon(RibbonType::new(&r).unwrap())),
        // Panel bytes are anything, CR and ESC included.
        2 => (panel(), prop::collection::vec(any::<u8>(), 0..TEST_MAX_PANEL))
            .prop_map(|(panel, data)| Command::DownloadPanel { panel, data }),
    ]
}

fn reply() -> impl Strategy<Value = Reply> {
    prop_oneof![
        Just(Reply::Ok),
        "[ -~]{1,80}"
            .prop_filter("not a keyword", |v| v != "OK" && !v.starts_with("ERR"))
            .prop_map(Reply::Value),
        (
            prop::sample::select(ErrorCode::all().to_vec()),
            "[ -~]{0,80}"
        )
            .prop_map(|(code, text)| Reply::Error { code, text }),
    ]
}

/// Splits `bytes` at the given cut points (taken modulo the length).
fn chunks(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|c| c % (bytes.len() + 1))
        .chain([0, bytes.len()])
        .collect();
    points.sort_unstable();
    points.dedup();
    points
        .windows(2)
        .map(|w| bytes[w[0]..w[1]].to_vec())
        .collect()
}

fn decode_commands(pieces: &[Vec<u8>]) -> Vec<Result<Command, CommandError>> {
    let mut decoder = CommandDecoder::with_max_panel(TEST_MAX_PANEL);
    let mut out = Vec::new();
    for piece in pieces {
        decoder.push(piece);
        while let Some(event) = decoder.decode() {
            out.push(event);
        }
    }
    out
}

fn decode_replies(pieces: &[Vec<u8>]) -> Vec<Result<Reply, ReplyError>> {
    let mut decoder = ReplyDecoder::new();
    let mut out = Vec::new();
    for piece in pieces {
        decoder.push(piece);
        while let Some(event) = decoder.decode() {
            out.push(event);
        }
    }
    out
}

proptest! {
    #[test]
    fn commands_round_trip(command in command()) {
        let wire = command.to_bytes().unwrap();
        let mut cursor = Cursor::new(wire.as_slice());
        prop_assert_eq!(Command::check(&mut cursor), Ok(()));
        prop_assert_eq!(cursor.position() as usize, wire.len());
        prop_assert_eq!(Command::parse(&mut Cursor::new(wire.as_slice())), Ok(command));
    }

    #[test]
    fn replies_round_trip(reply in reply()) {
        let wire = reply.to_bytes();
        prop_assert_eq!(Reply::parse(&mut Cursor::new(wire.as_slice())), Ok(reply));
    }

    #[test]
    fn a_command_stream_split_anywhere_gives_its_commands(
        commands in prop::collection::vec(command(), 1..12),
        cuts in prop::collection::vec(any::<usize>(), 0..20),
    ) {
        let mut wire = Vec::new();
        for c in &commands {
            c.encode(&mut wire).unwrap();
        }
        let decoded = decode_commands(&chunks(&wire, &cuts));
        let expected: Vec<_> = commands.into_iter().map(Ok).collect();
        prop_assert_eq!(decoded, expected);
    }

    #[test]
    fn a_reply_stream_split_anywhere_gives_its_replies(
        replies in prop::collection::vec(reply(), 1..12),
        cuts in prop::collection::vec(any::<usize>(), 0..20),
    ) {
        let mut wire = Vec::new();
        for r in &replies {
            r.encode(&mut wire);
        }
        let decoded = decode_replies(&chunks(&wire, &cuts));
        let expected: Vec<_> = replies.into_iter().map(Ok).collect();
        prop_assert_eq!(decoded, expected);
    }

    /// Whatever the bytes (garbage mixed with commands), the frames and
    /// errors do not depend on how the stream was cut.
    #[test]
    fn splitting_never_changes_what_a_mixed_stream_decodes_to(
        parts in prop::collection::vec(
            prop_oneof![
                command().prop_map(|c| c.to_bytes().unwrap()),
                prop::collection::vec(any::<u8>(), 0..40),
                prop::collection::vec(prop::sample::select(vec![ESC, CR, b';', b'D', b'b', b'm', b'p', b'c', b'9', 0xFF]), 0..20),
            ],
            1..10,
        ),
        cuts in prop::collection::vec(any::<usize>(), 0..30),
    ) {
        let wire: Vec<u8> = parts.concat();
        let whole = decode_commands(std::slice::from_ref(&wire));
        let split = decode_commands(&chunks(&wire, &cuts));
        prop_assert_eq!(&whole, &split);
        let bytewise: Vec<Vec<u8>> = wire.iter().map(|b| vec![*b]).collect();
        prop_assert_eq!(&whole, &decode_commands(&bytewise));
        let replies_whole = decode_replies(std::slice::from_ref(&wire));
        prop_assert_eq!(replies_whole, decode_replies(&chunks(&wire, &cuts)));
    }

    /// Garbage without an ESC never hides the command after it.
    #[test]
    fn the_command_decoder_resynchronises_after_garbage(
        garbage in prop::collection::vec(any::<u8>().prop_filter("no ESC", |b| *b != ESC), 1..300),
        command in command(),
    ) {
        let mut wire = garbage.clone();
        command.encode(&mut wire).unwrap();
        let decoded = decode_commands(&[wire]);
        prop_assert_eq!(decoded.len(), 2);
        let is_garbage = matches!(&decoded[0], Err(CommandError::Garbage { len, .. }) if *len == garbage.len());
        prop_assert!(is_garbage);
        prop_assert_eq!(&decoded[1], &Ok(command));
    }

    /// After any bytes at all, a CR then a reply is read as that reply.
    #[test]
    fn the_reply_decoder_resynchronises_at_cr(
        garbage in prop::collection::vec(any::<u8>(), 0..700),
        reply in reply(),
    ) {
        let mut wire = garbage;
        wire.push(CR);
        reply.encode(&mut wire);
        let decoded = decode_replies(&[wire]);
        prop_assert_eq!(decoded.last(), Some(&Ok(reply)));
    }

    /// Random bytes never panic either decoder and never stall it: all
    /// input is consumed or held for a frame in progress.
    #[test]
    fn random_bytes_are_consumed(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut commands = CommandDecoder::with_max_panel(TEST_MAX_PANEL);
        commands.push(&bytes);
        while commands.decode().is_some() {}
        prop_assert!(commands.buffered() <= MAX_COMMAND_LINE + 2 + TEST_MAX_PANEL + 20);
        let mut replies = ReplyDecoder::new();
        replies.push(&bytes);
        while replies.decode().is_some() {}
        prop_assert!(replies.buffered() <= MAX_REPLY_LINE);
    }
}

/// Bytes, the error they must give, and its reply code.
type ErrorCase = (&'static [u8], fn(&CommandError) -> bool, ErrorCode);

/// Every command decoding error, from bytes.
#[test]
fn every_command_error_is_reachable_and_maps_to_a_code() {
    let cases: Vec<ErrorCase> = vec![
        (
            b"zz\x1b",
            |e| matches!(e, CommandError::Garbage { len: 2, .. }),
            ErrorCode::BadCommand,
        ),
        (
            b"\x1bSi\x1b",
            |e| matches!(e, CommandError::Truncated { .. }),
            ErrorCode::BadCommand,
        ),
        (
            b"\x1bS\x07\r",
            |e| matches!(e, CommandError::NotAscii { byte: 7, .. }),
            ErrorCode::BadCommand,
        ),
        (
            b"\x1bNope\r",
            |e| matches!(e, CommandError::UnknownCommand { .. }),
            ErrorCode::BadCommand,
        ),
        (
            b"\x1bRlr;q\r",
            |e| matches!(e, CommandError::BadParameter { command: "Rlr", .. }),
            ErrorCode::BadParameter,
        ),
        (
            b"\x1bDbmp;c;x;\r",
            |e| matches!(e, CommandError::BadDownloadHeader { .. }),
            ErrorCode::BadData,
        ),
        (
            b"\x1bDbmp;c;65;",
            |e| matches!(e, CommandError::PanelTooLarge(_)),
            ErrorCode::BadData,
        ),
        (
            b"\x1bDbmp;c;1;ab",
            |e| matches!(e, CommandError::MissingTerminator { .. }),
            ErrorCode::BadData,
        ),
    ];
    for (bytes, is_expected, code) in cases {
        let decoded = decode_commands(&[bytes.to_vec()]);
        let error = decoded
            .iter()
            .find_map(|e| e.as_ref().err())
            .unwrap_or_else(|| panic!("no error from {}", bytes.escape_ascii()));
        assert!(is_expected(error), "{}: {error:?}", bytes.escape_ascii());
        assert_eq!(error.code(), code, "{error}");
        assert!(!error.to_string().is_empty());
    }
    let mut overlong = vec![ESC];
    overlong.resize(MAX_COMMAND_LINE + 2, b'A');
    let decoded = decode_commands(&[overlong]);
    assert!(matches!(
        decoded[0],
        Err(CommandError::Overlong {
            limit: MAX_COMMAND_LINE,
            ..
        })
    ));
    assert!(matches!(
        Command::check(&mut Cursor::new(&b"\x1bSi"[..])),
        Err(CheckError::Incomplete)
    ));
}

/// Every reply decoding error, from bytes.
#[test]
fn every_reply_error_is_reachable() {
    let decoded = decode_replies(&[b"\r".to_vec()]);
    assert_eq!(decoded, vec![Err(ReplyError::Empty)]);
    let decoded = decode_replies(&[b"OK\x1b\r".to_vec()]);
    assert!(
        matches!(decoded[0], Err(ReplyError::NotAscii { byte: ESC, ref received }) if received == "OK\\x1b")
    );
    let decoded = decode_replies(&[b"ERR;MELTED;hot\r".to_vec()]);
    assert!(matches!(
        decoded[0],
        Err(ReplyError::UnknownErrorCode { .. })
    ));
    let decoded = decode_replies(&[vec![b'x'; MAX_REPLY_LINE + 1]]);
    assert!(matches!(decoded[0], Err(ReplyError::Overlong { .. })));
    assert!(matches!(
        Reply::parse(&mut Cursor::new(&b"OK"[..])),
        Err(ReplyError::Unterminated { .. })
    ));
}

/// The human table in docs/printer-protocol.md names every command, state
/// and code the code knows.
#[test]
fn the_protocol_document_lists_the_whole_vocabulary() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/printer-protocol.md");
    let doc = std::fs::read_to_string(path).expect("docs/printer-protocol.md exists");
    for spec in cardhub_protocols::printer::command::COMMANDS {
        assert!(
            doc.contains(&format!("`{}", spec.mnemonic)),
            "{} missing",
            spec.mnemonic
        );
    }
    for entry in cardhub_protocols::printer::status::STATES {
        assert!(doc.contains(entry.wire), "{} missing", entry.wire);
        assert!(
            doc.contains(entry.advice),
            "advice of {} missing",
            entry.wire
        );
    }
    for code in ErrorCode::all() {
        assert!(doc.contains(code.wire()), "{} missing", code.wire());
    }
}
