//! The camera driver against the simulated camera over TCP: a capture the
//! centre accepts, photos refused by the rule they break, the camera's
//! session errors, a cable pulled mid-transfer, a camera that takes no
//! photo or answers too slowly.

use std::net::TcpListener;
use std::time::Duration;

use cardhub_devices::camera::{
    Camera, CameraError, CameraOptions, CameraTimeouts, PhotoRefusal, PhotoRules, PtpTransport,
    TcpTransport, open_tcp,
};
use cardhub_protocols::ptp::{Container, ObjectFormat, OperationCode, ResponseCode};
use cardhub_simulators::camera::{CameraFaults, CameraSimConfig, RunningCamera, SimPhoto, start};

fn camera_with(photo: SimPhoto) -> RunningCamera {
    start(CameraSimConfig {
        photo,
        ..CameraSimConfig::default()
    })
    .expect("the simulated camera binds a loopback port")
}

fn driver(sim: &RunningCamera, timeouts: CameraTimeouts) -> Camera<TcpTransport> {
    let options = CameraOptions {
        timeouts,
        ..CameraOptions::default()
    };
    open_tcp("branch 1 camera", &sim.address(), options).expect("the simulator accepts")
}

/// Timeouts long enough for a loaded test machine.
fn patient() -> CameraTimeouts {
    CameraTimeouts::all(10_000)
}

#[test]
fn the_driver_captures_a_photo_the_centre_accepts() {
    let sim = camera_with(SimPhoto::IdPhoto { seed: 7 });
    let mut camera = driver(&sim, patient());
    let info = camera
        .check_supported()
        .expect("the simulator can be triggered");
    assert_eq!(info.model, "Simulated ID camera");

    let photo = camera.capture().expect("a photo");
    assert_eq!(photo.format(), ObjectFormat::ExifJpeg);
    assert_eq!(photo.bytes.len(), photo.info.compressed_size as usize);
    let facts = PhotoRules::default()
        .check(&photo.bytes)
        .expect("the centre accepts the simulator's ID photo");
    assert_eq!((facts.width, facts.height), (358, 441));

    // Downloaded, deleted from the card, session closed.
    assert_eq!(sim.objects(), 0);
    assert!(!sim.session_open());
    assert!(!camera.is_session_open());

    let again = camera.capture().expect("a second photo");
    assert_ne!(again.bytes, photo.bytes, "each capture is a new photo");
    assert_eq!(sim.captures(), 2);
    assert_eq!(sim.connections(), 1);
}

#[test]
fn a_wrong_size_photo_is_refused_by_the_size_rule() {
    let sim = camera_with(SimPhoto::WrongSize {
        width: 640,
        height: 480,
    });
    let photo = driver(&sim, patient()).capture().expect("a photo");
    let refusal = PhotoRules::default()
        .check(&photo.bytes)
        .expect_err("640 x 480 is not the centre's size");
    assert_eq!(
        refusal,
        PhotoRefusal::WrongSize {
            width: 640,
            height: 480,
            expected_width: 358,
            expected_height: 441
        }
    );
    assert_eq!(refusal.rule(), "width/height");
    assert!(refusal.to_string().contains("358 x 441"), "{refusal}");
}

#[test]
fn a_photo_that_is_not_a_jpeg_is_refused_by_the_jpeg_rule() {
    let sim = camera_with(SimPhoto::NotJpeg);
    let photo = driver(&sim, patient()).capture().expect("a photo");
    assert_eq!(photo.format(), ObjectFormat::Png);
    let refusal = PhotoRules::default()
        .check(&photo.bytes)
        .expect_err("a PNG is not accepted");
    assert!(
        matches!(refusal, PhotoRefusal::NotJpeg { .. }),
        "{refusal:?}"
    );
    assert_eq!(refusal.rule(), "jpeg");
    assert!(
        refusal.to_string().contains("set the camera to JPEG"),
        "{refusal}"
    );
}

#[test]
fn the_camera_answers_session_not_open_outside_a_session() {
    let sim = camera_with(SimPhoto::default());
    let mut link = TcpTransport::connect(&sim.address(), Duration::from_secs(5))
        .expect("the simulator accepts");
    let wait = Duration::from_secs(10);
    link.send(
        &Container::command(OperationCode::GetObjectInfo, 1, [1]),
        wait,
    )
    .expect("sent");
    match link.receive(wait).expect("an answer") {
        Container::Response {
            code,
            transaction_id,
            ..
        } => {
            assert_eq!(code, ResponseCode::SessionNotOpen);
            assert_eq!(code.to_u16(), 0x2003);
            assert_eq!(transaction_id, 1);
        }
        other => panic!("expected a response, got {other:?}"),
    }
}

#[test]
fn a_camera_that_dropped_its_session_is_a_refusal_and_the_next_capture_works() {
    let sim = camera_with(SimPhoto::default());
    let mut camera = driver(&sim, patient());
    camera.open_session().expect("opened");
    sim.set_faults(CameraFaults {
        drop_session: true,
        ..CameraFaults::default()
    });
    let error = camera.capture().expect_err("the camera forgot the session");
    assert_eq!(
        error,
        CameraError::Refused {
            camera: "branch 1 camera".into(),
            operation: OperationCode::InitiateCapture,
            response: ResponseCode::SessionNotOpen
        }
    );
    assert!(
        error.to_string().ends_with("take the photo again"),
        "{error}"
    );
    assert!(!camera.is_session_open());

    let photo = camera.capture().expect("the driver opens a new session");
    assert!(PhotoRules::default().check(&photo.bytes).is_ok());
}

#[test]
fn a_cable_pulled_mid_transfer_is_a_typed_disconnect() {
    let sim = camera_with(SimPhoto::default());
    let mut camera = driver(&sim, patient());
    sim.set_faults(CameraFaults {
        disconnect_mid_transfer: true,
        ..CameraFaults::default()
    });
    let error = camera.capture().expect_err("the transfer was cut");
    match &error {
        CameraError::Disconnected {
            operation,
            mid_transfer,
            ..
        } => {
            assert_eq!(*operation, OperationCode::GetObject);
            assert!(mid_transfer, "half the photo had arrived");
        }
        other => panic!("expected a disconnect, got {other:?}"),
    }
    assert!(error.is_connection_lost());
    assert!(error.to_string().contains("check its USB cable"), "{error}");

    // The driver reconnects by itself; the first photo is still on the card.
    let photo = camera.capture().expect("a photo after reconnecting");
    assert!(PhotoRules::default().check(&photo.bytes).is_ok());
    assert_eq!(sim.connections(), 2);
    assert_eq!(sim.objects(), 1);
}

#[test]
fn a_capture_without_object_added_is_no_photo() {
    let sim = camera_with(SimPhoto::default());
    let mut camera = driver(
        &sim,
        CameraTimeouts {
            capture_ms: 300,
            ..patient()
        },
    );
    sim.set_faults(CameraFaults {
        no_object_added: true,
        ..CameraFaults::default()
    });
    let error = camera.capture().expect_err("no ObjectAdded");
    assert!(matches!(error, CameraError::NoPhoto { .. }), "{error:?}");
    assert!(
        error.to_string().contains("check that it can focus"),
        "{error}"
    );
    assert!(
        !sim.session_open(),
        "the session was closed after the failure"
    );
}

#[test]
fn a_slow_camera_is_not_answering() {
    let sim = camera_with(SimPhoto::default());
    let mut camera = driver(
        &sim,
        CameraTimeouts {
            command_ms: 100,
            ..patient()
        },
    );
    sim.set_faults(CameraFaults {
        slow_ms: 400,
        ..CameraFaults::default()
    });
    let error = camera.capture().expect_err("too slow");
    match &error {
        CameraError::NotAnswering {
            operation, waited, ..
        } => {
            assert_eq!(*operation, OperationCode::OpenSession);
            assert_eq!(*waited, Duration::from_millis(100));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(
        error
            .to_string()
            .ends_with("check its USB cable and that it is switched on"),
        "{error}"
    );
}

#[test]
fn a_camera_that_is_not_there_is_unavailable() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("bound").port()
    };
    let error = open_tcp(
        "branch 1 camera",
        &format!("127.0.0.1:{port}"),
        CameraOptions::default(),
    )
    .expect_err("nothing listens there");
    assert!(
        matches!(error, CameraError::Unavailable { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("plugged in and switched on"),
        "{error}"
    );
}
