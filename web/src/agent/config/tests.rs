//! Tests of the terminal's configuration: the example file, every
//! key's default, and the errors an operator sees.

use cardhub_devices::printer::PrinterAddress;

use super::*;

fn parse(text: &str) -> Result<TerminalConfig, ConfigError> {
    TerminalConfig::parse(Path::new("/etc/cardhub/terminal.toml"), text)
}

fn resolve(text: &str) -> Result<Settings, ConfigError> {
    parse(text)?.resolve(Some(Path::new("/etc/cardhub/terminal.toml")), None)
}

#[test]
fn the_example_file_is_valid() {
    let text = include_str!("../../../../config/terminal.example.toml");
    let settings = resolve(text).expect("the example parses");
    assert_eq!(settings.terminal_id, "T-0101-01");
    assert_eq!(
        settings.key_file,
        Path::new("/etc/cardhub/terminal-key.toml")
    );
    assert_eq!(settings.devices.id_readers.len(), 1);
    assert_eq!(settings.devices.cameras.len(), 1);
    assert_eq!(settings.devices.card_readers[0].reader, ReaderChoice::Auto);
    assert_eq!(settings.devices.printers[0].status_secs, 5);
    assert_eq!(settings.link, LinkSettings::default());
}

#[test]
fn every_device_kind_reads_with_its_defaults() {
    let settings = resolve(
        r#"
        [terminal]
        id = "T-1"
        key_file = "/var/lib/cardhub/key.toml"

        [[id_readers]]
        name = "id"
        port = "/dev/pts/4"

        [[cameras]]
        name = "cam-tcp"
        address = "tcp://127.0.0.1:15740"
        [[cameras]]
        name = "cam-usb"
        address = "usb://04A9:0x32d9"
        [[cameras]]
        name = "cam-any"
        address = "usb:auto"

        [[card_readers]]
        name = "encoder"
        reader = "ACS ACR39U ICC Reader 00 00"

        [[printers]]
        name = "printer"
        address = "serial:///dev/ttyUSB1"
        "#,
    )
    .expect("valid");
    assert_eq!(settings.key_file, Path::new("/var/lib/cardhub/key.toml"));
    let id = &settings.devices.id_readers[0];
    assert_eq!(
        (id.baud, id.poll_ms, id.fingerprints),
        (115_200, 500, false)
    );
    assert_eq!(id.driver_config().device, Path::new("/dev/pts/4"));
    let cams: Vec<_> = settings
        .devices
        .cameras
        .iter()
        .map(|c| c.address.clone())
        .collect();
    assert_eq!(
        cams,
        vec![
            CameraAddress::Tcp("127.0.0.1:15740".into()),
            CameraAddress::Usb {
                vendor_id: 0x04a9,
                product_id: 0x32d9
            },
            CameraAddress::UsbAuto,
        ]
    );
    assert_eq!(cams[1].to_string(), "usb://04a9:32d9");
    assert_eq!(
        settings.devices.card_readers[0].reader,
        ReaderChoice::Named("ACS ACR39U ICC Reader 00 00".into())
    );
    assert_eq!(
        settings.devices.printers[0].address.0,
        PrinterAddress::Serial {
            path: "/dev/ttyUSB1".into(),
            baud: 115_200
        }
    );
}

#[test]
fn unknown_keys_are_refused_with_their_path() {
    let e = resolve("[terminal]\nid = \"T-1\"\n\n[[printers]]\nname = \"p\"\naddress = \"tcp://h:1\"\nspeed = 3\n")
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with("/etc/cardhub/terminal.toml: key `printers[0]"),
        "{text}"
    );
    assert!(text.contains("unknown field `speed`"), "{text}");
    let e = resolve("[terminal]\nname = \"T-1\"\n").unwrap_err();
    assert!(e.to_string().contains("unknown field `name`"), "{e}");
}

#[test]
fn bad_addresses_say_what_to_write() {
    let e =
        resolve("[terminal]\nid = \"T\"\n[[cameras]]\nname = \"c\"\naddress = \"usb://canon\"\n")
            .unwrap_err();
    assert!(
        e.to_string().contains("key `cameras[0].address`: camera address `usb://canon` is not tcp://HOST:PORT, usb://VID:PID"),
        "{e}"
    );
    let e =
        resolve("[terminal]\nid = \"T\"\n[[cameras]]\nname = \"c\"\naddress = \"tcp://host\"\n")
            .unwrap_err();
    assert!(e.to_string().contains("camera address `tcp://host`"), "{e}");
    let e = resolve(
        "[terminal]\nid = \"T\"\n[[printers]]\nname = \"p\"\naddress = \"terminal://T-2/printer\"\n",
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("a terminal drives printers on its own network or serial lines"),
        "{e}"
    );
    let e =
        resolve("[terminal]\nid = \"T\"\n[[printers]]\nname = \"p\"\naddress = \"tcp://h:0\"\n")
            .unwrap_err();
    assert!(e.to_string().contains("key `printers[0].address`"), "{e}");
    let e = resolve("[terminal]\nid = \"T\"\n[[card_readers]]\nname = \"r\"\nreader = \"  \"\n")
        .unwrap_err();
    assert!(e.to_string().contains("pcsc_scan"), "{e}");
}

#[test]
fn names_must_be_addressable_and_unique() {
    let e = resolve(
        "[terminal]\nid = \"T\"\n[[id_readers]]\nname = \"id reader\"\nport = \"/dev/x\"\n",
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("device name `id reader`: use 1 to 64 letters"),
        "{e}"
    );
    let e = resolve(
        "[terminal]\nid = \"T\"\n[[id_readers]]\nname = \"dev\"\nport = \"/dev/x\"\n[[printers]]\nname = \"dev\"\naddress = \"tcp://h:1\"\n",
    )
    .unwrap_err();
    assert!(
        matches!(e, ConfigError::DuplicateName { ref name, .. } if name == "dev"),
        "{e}"
    );
    let e = resolve(
        "[terminal]\nid = \"T\"\n[[card_readers]]\nname = \"a\"\nreader = \"pcsc:auto\"\n[[card_readers]]\nname = \"b\"\nreader = \"pcsc:auto\"\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("`pcsc:auto` is taken by two"), "{e}");
}

#[test]
fn the_terminal_id_comes_from_the_flag_or_the_file() {
    let config = parse("[terminal]\nid = \"T-file\"\n").unwrap();
    let s = config.clone().resolve(None, Some("T-flag")).unwrap();
    assert_eq!(s.terminal_id, "T-flag");
    assert_eq!(config.resolve(None, None).unwrap().terminal_id, "T-file");
    let e = TerminalConfig::empty().resolve(None, None).unwrap_err();
    assert!(e.to_string().contains("or pass --id"), "{e}");
    let e = TerminalConfig::empty()
        .resolve(None, Some("T/1"))
        .unwrap_err();
    assert!(matches!(e, ConfigError::BadTerminalId(_)), "{e}");
    // Without a file the key is looked for in the working directory.
    let s = TerminalConfig::empty().resolve(None, Some("T")).unwrap();
    assert_eq!(s.key_file, Path::new(DEFAULT_KEY_FILE));
    assert!(s.devices.is_empty());
}

#[test]
fn syntax_errors_name_the_file() {
    let e = parse("[terminal\n").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/etc/cardhub/terminal.toml is not valid TOML"),
        "{e}"
    );
}
