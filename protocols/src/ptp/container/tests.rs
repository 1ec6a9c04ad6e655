//! Byte-literal tests of the container: the bytes of the standard, the
//! two parsing steps, and each typed error.

use super::*;

/// OpenSession(session 1), transaction 0, as libgphoto2 sends it.
const OPEN_SESSION: [u8; 16] = [
    0x10, 0x00, 0x00, 0x00, // length 16
    0x01, 0x00, // command
    0x02, 0x10, // OpenSession
    0x00, 0x00, 0x00, 0x00, // transaction 0
    0x01, 0x00, 0x00, 0x00, // session id 1
];

#[test]
fn ptp_open_session_has_the_bytes_of_the_standard() {
    let c = Container::command(OperationCode::OpenSession, 0, [1]);
    assert_eq!(c.to_bytes(), OPEN_SESSION);
    let mut cursor = Cursor::new(&OPEN_SESSION[..]);
    assert_eq!(Container::check(&mut cursor, MAX_CONTAINER_LEN), Ok(()));
    assert_eq!(cursor.position(), 16);
    let mut cursor = Cursor::new(&OPEN_SESSION[..]);
    assert_eq!(Container::parse(&mut cursor), Ok(c));
}

#[test]
fn ptp_response_and_event_bytes() {
    let ok = [0x0C, 0, 0, 0, 0x03, 0, 0x01, 0x20, 0x07, 0, 0, 0];
    assert_eq!(
        Container::parse(&mut Cursor::new(&ok[..])),
        Ok(Container::response(ResponseCode::Ok, 7, []))
    );
    let added = [
        0x10, 0, 0, 0, 0x04, 0, 0x02, 0x40, 0x03, 0, 0, 0, 0x2A, 0, 0, 0,
    ];
    let event = Container::parse(&mut Cursor::new(&added[..]))
        .expect("a valid event")
        .as_event()
        .expect("an event container");
    assert_eq!(event.code, EventCode::ObjectAdded);
    assert_eq!(event.params.get(0), Some(42));
    assert_eq!(event.to_container().to_bytes(), added);
}

#[test]
fn ptp_check_says_how_much_is_needed() {
    let data = Container::Data {
        code: OperationCode::GetObject,
        transaction_id: 3,
        data: vec![0xAB; 100],
    }
    .to_bytes();
    assert_eq!(
        Container::check(&mut Cursor::new(&data[..5]), MAX_CONTAINER_LEN),
        Err(CheckError::Incomplete { needed: 12 })
    );
    let mut cursor = Cursor::new(&data[..50]);
    assert_eq!(
        Container::check(&mut cursor, MAX_CONTAINER_LEN),
        Err(CheckError::Incomplete { needed: 112 })
    );
    assert_eq!(cursor.position(), 0);
    assert_eq!(
        Container::parse(&mut Cursor::new(&data[..50])),
        Err(ContainerError::Truncated {
            length: 112,
            available: 50
        })
    );
}

#[test]
fn ptp_bad_headers_are_typed() {
    let invalid = |bytes: &[u8]| match Container::check(&mut Cursor::new(bytes), 1000) {
        Err(CheckError::Invalid(e)) => {
            assert_eq!(
                Container::parse_with_limit(&mut Cursor::new(bytes), 1000),
                Err(e.clone())
            );
            e
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(
        invalid(&[8, 0, 0, 0, 1, 0, 1, 0x10, 0, 0, 0, 0]),
        ContainerError::LengthTooShort { length: 8 }
    );
    assert_eq!(
        invalid(&[0xE9, 0x03, 0, 0, 2, 0, 9, 0x10, 0, 0, 0, 0]),
        ContainerError::LengthTooLong {
            length: 1001,
            limit: 1000
        }
    );
    assert_eq!(
        invalid(&[12, 0, 0, 0, 5, 0, 1, 0x10, 0, 0, 0, 0]),
        ContainerError::BadType { value: 5 }
    );
    assert_eq!(
        invalid(&[14, 0, 0, 0, 1, 0, 1, 0x10, 0, 0, 0, 0]),
        ContainerError::LengthNotWholeParams {
            kind: ContainerKind::Command,
            length: 14
        }
    );
    assert_eq!(
        invalid(&[36, 0, 0, 0, 3, 0, 1, 0x20, 0, 0, 0, 0]),
        ContainerError::TooManyParams {
            kind: ContainerKind::Response,
            count: 6,
            max: 5
        }
    );
    assert_eq!(
        invalid(&[28, 0, 0, 0, 4, 0, 2, 0x40, 0, 0, 0, 0]),
        ContainerError::TooManyParams {
            kind: ContainerKind::Event,
            count: 4,
            max: 3
        }
    );
}

#[test]
fn ptp_params_are_bounded() {
    assert!(Params::new(&[1, 2, 3, 4, 5]).is_ok());
    assert!(matches!(
        Params::new(&[0; 6]),
        Err(ContainerError::TooManyParams { count: 6, .. })
    ));
    let p = Params::from([7, 8]);
    assert_eq!(p.as_slice(), &[7, 8]);
    assert_eq!(p.get(2), None);
    assert_eq!(format!("{p:?}"), "[0x00000007, 0x00000008]");
}
