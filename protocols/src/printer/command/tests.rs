//! Unit tests of commands: encoding as the reference writes them, binary
//! downloads, refusals, limits, the command table.

use std::io::Cursor;

use super::frame::check_with_limit;
use super::*;
use crate::printer::decoder::{CheckError, Resync};
use crate::printer::status::{Panel, Station};
use crate::printer::{CR, ESC, MAX_PANEL_BYTES};

fn parse(bytes: &[u8]) -> Result<Command, CommandError> {
    Command::parse(&mut Cursor::new(bytes))
}

#[test]
fn text_commands_encode_as_the_reference_writes_them() {
    let cases: [(Command, &[u8]); 6] = [
        (
            Command::SetInsertion(InsertionMode::Feeder),
            b"\x1bPcim;F\r",
        ),
        (Command::SetErrorMode(ErrorMode::Host), b"\x1bPem;2\r"),
        (Command::SetRibbon(RibbonType::ko()), b"\x1bPr;ko\r"),
        (Command::MoveTo(Station::Contact), b"\x1bSic\r"),
        (Command::ReadCardPosition, b"\x1bRlr;p\r"),
        (Command::ReadRibbonCount, b"\x1bRrt;count\r"),
    ];
    for (command, wire) in cases {
        assert_eq!(command.to_bytes().unwrap(), wire, "{command:?}");
        assert_eq!(parse(wire).unwrap(), command);
    }
}

#[test]
fn a_download_carries_cr_and_esc_in_its_data() {
    let data = vec![CR, ESC, b';', 0, 0xFF, CR];
    let command = Command::DownloadPanel {
        panel: Panel::Colour,
        data: data.clone(),
    };
    let wire = command.to_bytes().unwrap();
    assert!(wire.starts_with(b"\x1bDbmp;c;6;"));
    let mut cursor = Cursor::new(wire.as_slice());
    Command::check(&mut cursor).unwrap();
    assert_eq!(cursor.position() as usize, wire.len());
    assert_eq!(parse(&wire).unwrap(), command);
    assert_eq!(
        format!("{command:?}"),
        "DownloadPanel { panel: Colour, len: 6 }"
    );
}

#[test]
fn bad_parameters_name_the_command_and_what_it_takes() {
    let err = parse(b"\x1bPcem;X\r").unwrap_err();
    assert_eq!(
        err.to_string(),
        "command Pcem: parameters `X` are not I or M"
    );
    assert_eq!(err.code(), crate::printer::ErrorCode::BadParameter);
    assert!(matches!(
        parse(b"\x1bSi;now\r").unwrap_err(),
        CommandError::BadParameter { command: "Si", .. }
    ));
    assert!(matches!(
        parse(b"\x1bDbmp;x;1;a\r").unwrap_err(),
        CommandError::BadParameter {
            command: "Dbmp",
            ..
        }
    ));
    assert!(matches!(
        parse(b"\x1bPr;KO\r").unwrap_err(),
        CommandError::BadParameter { command: "Pr", .. }
    ));
    assert_eq!(
        parse(b"\x1bSx\r").unwrap_err(),
        CommandError::UnknownCommand {
            mnemonic: "Sx".into()
        }
    );
}

#[test]
fn too_large_downloads_are_refused_on_both_sides() {
    let data = vec![0u8; 11];
    let mut cursor = Cursor::new(&b"\x1bDbmp;c;11;"[..]);
    match check_with_limit(&mut cursor, 10) {
        Err(CheckError::Invalid {
            error: CommandError::PanelTooLarge(e),
            then: Resync::SkipBytes(11),
        }) => assert_eq!((e.length, e.limit), (11, 10)),
        other => panic!("{other:?}"),
    }
    let big = vec![0u8; MAX_PANEL_BYTES + 1];
    assert!(encode_panel_download(Panel::Colour, &big, &mut Vec::new()).is_err());
    assert!(encode_panel_download(Panel::Colour, &data, &mut Vec::new()).is_ok());
}

#[test]
fn the_command_table_knows_every_command() {
    let all = [
        Command::SetErrorMode(ErrorMode::Printer),
        Command::SetInsertion(InsertionMode::Feeder),
        Command::SetEjection(EjectionMode::Manual),
        Command::SetHoldAfterPrint(false),
        Command::SetRibbon(RibbonType::ko()),
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
        Command::DownloadPanel {
            panel: Panel::Black,
            data: vec![1],
        },
        Command::ReadStatus,
        Command::ReadCardPosition,
        Command::ReadRibbonCount,
        Command::ReadInfo,
    ];
    for command in &all {
        let known = COMMANDS.iter().any(|s| s.mnemonic == command.name());
        assert!(known, "{} is missing from COMMANDS", command.name());
    }
}
