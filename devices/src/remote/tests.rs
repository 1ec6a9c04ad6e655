//! The remote drivers against a scripted link: what each trait call sends
//! and how each answer or failure comes back as the kind's typed error.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cardhub_protocols::printer::{CardPosition, PrinterState, Station};
use cardhub_protocols::terminal::{
    CardPlace, CardReaderCommand, CommandError, CommandErrorCode, CommandOutput, DeviceCommand,
    HexBytes, PrinterCommand, PrinterCondition, ReaderHolds,
};

use super::*;
use crate::camera::PhotoCamera;
use crate::id_reader::IdCardReader;
use crate::printer::{CardPrinter, PrinterError};
use crate::reader::{CardReader, ProtocolPreference, ReaderError, ReaderState};

type Answer = Box<dyn Fn(&str, &DeviceCommand) -> Result<CommandOutput, RemoteError> + Send + Sync>;

/// A link whose answers come from a closure; it records what was sent.
struct Scripted {
    id: String,
    answer: Answer,
    sent: Mutex<Vec<(String, DeviceCommand)>>,
}

impl RemoteLink for Scripted {
    fn terminal_id(&self) -> &str {
        &self.id
    }

    fn request(
        &self,
        device: &str,
        command: DeviceCommand,
        _timeout: Duration,
    ) -> Result<CommandOutput, RemoteError> {
        let answer = (self.answer)(device, &command);
        self.sent.lock().unwrap().push((device.to_owned(), command));
        answer
    }
}

/// A registry of its own holding one scripted terminal `T-1`.
fn linked(answer: Answer) -> (&'static Links, Arc<Scripted>) {
    let links: &'static Links = Box::leak(Box::default());
    let link = Arc::new(Scripted {
        id: "T-1".into(),
        answer,
        sent: Mutex::default(),
    });
    links.insert(link.clone());
    (links, link)
}

fn address(device: &str) -> RemoteAddress {
    RemoteAddress {
        terminal: "T-1".into(),
        device: device.into(),
    }
}

fn failed(code: CommandErrorCode) -> RemoteError {
    RemoteError::Command(CommandError::new(code, "as the terminal said"))
}

#[test]
fn addresses_parse_and_print() {
    let a = RemoteAddress::parse("terminal://T-0001/printer-1")
        .unwrap()
        .unwrap();
    assert_eq!(
        a,
        RemoteAddress {
            terminal: "T-0001".into(),
            device: "printer-1".into()
        }
    );
    assert_eq!(a.to_string(), "terminal://T-0001/printer-1");
    assert!(RemoteAddress::parse("tcp://10.0.0.1:9100").is_none());
    for bad in [
        "terminal://",
        "terminal://T-1",
        "terminal://T-1/",
        "terminal:///d",
        "terminal://T 1/d",
        "terminal://T/d/e",
    ] {
        let e = RemoteAddress::parse(bad).unwrap().unwrap_err();
        assert!(
            e.to_string().contains("terminal://TERMINAL/DEVICE"),
            "{bad}: {e}"
        );
    }
    let printer: crate::printer::PrinterAddress = "terminal://T-0001/printer-1".parse().unwrap();
    assert_eq!(printer.to_string(), "terminal://T-0001/printer-1");
    assert!(
        "terminal://T-0001"
            .parse::<crate::printer::PrinterAddress>()
            .is_err()
    );
}

#[test]
fn the_registry_keeps_the_newest_link_of_a_terminal() {
    let links: &'static Links = Box::leak(Box::default());
    let make = || -> Arc<dyn RemoteLink> {
        Arc::new(Scripted {
            id: "T-1".into(),
            answer: Box::new(|_, _| Ok(CommandOutput::Done {})),
            sent: Mutex::default(),
        })
    };
    let (old, new) = (make(), make());
    assert!(links.insert(old.clone()).is_none());
    assert!(links.insert(new.clone()).is_some());
    // The old link's cut must not unregister its successor.
    links.remove(&old);
    assert!(Arc::ptr_eq(&links.get("T-1").unwrap(), &new));
    assert_eq!(links.connected(), vec!["T-1".to_owned()]);
    links.remove(&new);
    assert!(links.get("T-1").is_none());
    let e = links
        .request(
            &address("d"),
            DeviceCommand::Printer(PrinterCommand::Status {}),
            DEFAULT_TIMEOUT,
        )
        .unwrap_err();
    assert!(matches!(e, RemoteError::NotConnected { .. }) && !e.maybe_sent());
}

#[test]
fn a_remote_reader_is_a_card_reader() {
    let (links, link) = linked(Box::new(|_, command| match command {
        DeviceCommand::CardReader(CardReaderCommand::Status {}) => {
            Ok(CommandOutput::ReaderStatus {
                holds: ReaderHolds::Present,
                atr: Some(HexBytes(vec![0x3B, 0x00])),
                connected: false,
            })
        }
        DeviceCommand::CardReader(
            CardReaderCommand::Connect { .. } | CardReaderCommand::Reconnect { .. },
        ) => Ok(CommandOutput::Atr {
            atr: HexBytes(vec![0x3B, 0x00]),
        }),
        DeviceCommand::CardReader(CardReaderCommand::Transmit { apdu }) if apdu.0[1] == 0xB2 => {
            Err(failed(CommandErrorCode::CardRemoved))
        }
        DeviceCommand::CardReader(CardReaderCommand::Transmit { .. }) => {
            Ok(CommandOutput::ApduResponse {
                response: HexBytes(vec![0x90, 0x00]),
            })
        }
        _ => Ok(CommandOutput::Done {}),
    }));
    let mut reader = RemoteCardReader::with_links(address("card-reader-1"), links);
    assert_eq!(reader.name(), "terminal://T-1/card-reader-1");
    assert!(matches!(reader.status(), ReaderState::Present { .. }));
    // Nothing goes out before a session is open.
    assert!(matches!(
        reader.transmit(&[0, 0xA4, 4, 0]),
        Err(ReaderError::NotConnected { .. })
    ));
    assert_eq!(
        reader.connect(ProtocolPreference::T1).unwrap().as_bytes(),
        &[0x3B, 0x00]
    );
    assert_eq!(reader.transmit(&[0, 0xA4, 4, 0]).unwrap(), vec![0x90, 0x00]);
    let removed = reader.transmit(&[0, 0xB2, 1, 0x0C]).unwrap_err();
    assert!(
        matches!(&removed, ReaderError::CardRemoved { command, .. } if command == "00B2010C"),
        "{removed}"
    );
    assert!(!reader.is_connected(), "a removed card ends the session");
    let sent = link.sent.lock().unwrap();
    assert!(sent.iter().all(|(device, _)| device == "card-reader-1"));
    assert!(sent.iter().any(|(_, c)| matches!(
        c,
        DeviceCommand::CardReader(CardReaderCommand::Connect {
            protocol: cardhub_protocols::terminal::CardProtocol::T1
        })
    )));
}

#[test]
fn a_lost_link_is_an_interruption_not_a_refusal() {
    let (links, _) = linked(Box::new(|_, command| match command {
        DeviceCommand::CardReader(CardReaderCommand::Transmit { .. }) => {
            Err(RemoteError::LinkLost {
                terminal: "T-1".into(),
                sent: true,
            })
        }
        _ => Ok(CommandOutput::Atr {
            atr: HexBytes(vec![0x3B]),
        }),
    }));
    let mut reader = RemoteCardReader::with_links(address("r"), links);
    reader.connect(ProtocolPreference::Any).unwrap();
    let e = reader.transmit(&[0x80, 0xDC, 1, 4]).unwrap_err();
    assert!(matches!(e, ReaderError::LinkLost { .. }), "{e}");
    assert!(e.to_string().contains("80DC0104"), "{e}");
    // A terminal that is away is a reader that is gone.
    let mut away = RemoteCardReader::with_links(
        RemoteAddress {
            terminal: "T-9".into(),
            device: "r".into(),
        },
        links,
    );
    assert!(matches!(
        away.connect(ProtocolPreference::Any),
        Err(ReaderError::ReaderGone { .. })
    ));
    assert_eq!(away.status(), ReaderState::Unavailable);
}

#[test]
fn a_remote_printer_reports_what_the_pipeline_acts_on() {
    let (links, link) = linked(Box::new(|_, command| match command {
        DeviceCommand::Printer(PrinterCommand::Status {}) => Ok(CommandOutput::PrinterStatus {
            state: PrinterCondition::Ready,
            hopper: Some(12),
            ribbon_left: None,
            card: CardPlace::None,
        }),
        DeviceCommand::Printer(PrinterCommand::CardPosition {}) => {
            Ok(CommandOutput::CardPosition {
                card: CardPlace::Contact,
            })
        }
        DeviceCommand::Printer(PrinterCommand::Feed {}) => {
            Err(RemoteError::Command(CommandError {
                condition: Some(PrinterCondition::HopperEmpty),
                ..CommandError::new(
                    CommandErrorCode::DeviceState,
                    "input hopper empty: load blank cards",
                )
            }))
        }
        DeviceCommand::Printer(PrinterCommand::Print {}) => Err(RemoteError::LinkLost {
            terminal: "T-1".into(),
            sent: true,
        }),
        DeviceCommand::Printer(PrinterCommand::Eject {}) => Err(RemoteError::NotConnected {
            terminal: "T-1".into(),
        }),
        DeviceCommand::Printer(PrinterCommand::Overlay {}) => {
            Err(RemoteError::Command(CommandError {
                device_code: Some("BAD_DATA".into()),
                ..CommandError::new(CommandErrorCode::Refused, "refused")
            }))
        }
        _ => Ok(CommandOutput::Done {}),
    }));
    let mut printer = RemotePrinter::with_links("branch-printer", address("printer-1"), links);
    let status = printer.status().unwrap();
    assert_eq!(
        (status.state, status.hopper, status.card),
        (PrinterState::Ready, Some(12), CardPosition::None)
    );
    assert_eq!(printer.card_position().unwrap(), CardPosition::Contact);
    printer.move_to(Station::Contactless).unwrap();
    printer
        .download_panel(cardhub_protocols::printer::Panel::Colour, b"\x89PNG")
        .unwrap();
    let feed = printer.feed().unwrap_err();
    assert!(feed.is_hopper_empty(), "{feed}");
    let print = printer.print().unwrap_err();
    assert!(
        matches!(
            print,
            PrinterError::Disconnected {
                mid_command: true,
                ..
            }
        ) && print.is_connection_lost()
    );
    let eject = printer.eject().unwrap_err();
    assert!(matches!(
        eject,
        PrinterError::Disconnected {
            mid_command: false,
            ..
        }
    ));
    assert!(matches!(
        printer.overlay().unwrap_err(),
        PrinterError::Refused {
            code: cardhub_protocols::printer::ErrorCode::BadData,
            ..
        }
    ));
    let sent = link.sent.lock().unwrap();
    assert!(sent.iter().any(|(_, c)| matches!(c, DeviceCommand::Printer(PrinterCommand::DownloadPanel { data_base64, .. }) if data_base64 == "iVBORw==")));
}

#[test]
fn a_remote_id_reader_decodes_the_block_itself() {
    let card = cardhub_simulators_free_card();
    let text = card.encode().unwrap().to_vec();
    let (links, _) = linked(Box::new(move |_, command| match command {
        DeviceCommand::IdReader(cardhub_protocols::terminal::IdReaderCommand::ReadCard {}) => {
            Ok(CommandOutput::IdCard {
                text: HexBytes(text.clone()),
                photo: HexBytes(vec![0; cardhub_protocols::id_reader::PHOTO_LEN]),
                fingerprints: None,
            })
        }
        DeviceCommand::IdReader(cardhub_protocols::terminal::IdReaderCommand::FindCard {}) => {
            Err(failed(CommandErrorCode::NoCard))
        }
        _ => Ok(CommandOutput::Done {}),
    }));
    let mut reader = RemoteIdReader::with_links(address("id-reader-1"), links);
    assert!(reader.find_card().unwrap_err().is_no_card());
    reader.select_card().unwrap();
    let read = reader
        .read_card(chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap())
        .unwrap();
    assert_eq!(read.card, card);
}

#[test]
fn a_remote_camera_hands_over_the_file() {
    let (links, _) = linked(Box::new(|_, _| {
        Ok(CommandOutput::Photo {
            file_name: "IMG_0001.JPG".into(),
            mime: "image/jpeg".into(),
            data_base64: "/9j/".into(),
        })
    }));
    let mut camera = RemoteCamera::with_links(address("camera-1"), links);
    let photo = camera.take_photo().unwrap();
    assert_eq!(
        (photo.file_name.as_str(), photo.bytes.as_slice()),
        ("IMG_0001.JPG", &[0xFF, 0xD8, 0xFF][..])
    );
    let (links, _) = linked(Box::new(|_, _| {
        Err(RemoteError::Timeout {
            terminal: "T-1".into(),
            timeout: Duration::from_secs(1),
        })
    }));
    let e = RemoteCamera::with_links(address("camera-1"), links)
        .take_photo()
        .unwrap_err();
    assert!(e.is_connection_lost(), "{e}");
}

/// A resident card (the reference's sample holder).
fn cardhub_simulators_free_card() -> cardhub_protocols::id_reader::IdCard {
    use cardhub_protocols::id_reader::{IdCard, ValidUntil};
    use cardhub_protocols::identity::Sex;
    let day = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
    IdCard::Resident {
        name: "李华".to_owned(),
        sex: Sex::Female,
        ethnicity: 1,
        birth_date: day(1949, 12, 31),
        address: "北京市西城区复兴门外大街1号".to_owned(),
        number: "11010519491231002X".to_owned(),
        authority: "北京市西城区公安分局".to_owned(),
        valid_from: day(2015, 3, 1),
        valid_to: ValidUntil::LongTerm,
    }
}
