//! The branch devices' simulators as their own processes (`cardhub sim
//! id-reader` on a pseudo-terminal, `cardhub sim camera` over TCP), driven
//! by cardhub's drivers across the real transport: what a branch PC's
//! `cardhub terminal` will do with them.

use std::time::Duration;

use cardhub_devices::camera::{CameraOptions, PhotoRules};
use cardhub_devices::id_reader::{IdCard, IdCardReader, IdReaderConfig};
use cardhub_tests::branch::Sim;

#[test]
fn a_permanent_residence_card_is_read_from_the_simulated_reader_over_its_pty() {
    let sim = Sim::start(
        &["id-reader", "--card", "permanent-2023"],
        "cardhub sim id-reader ready",
    );
    let pty = &sim.fields["pty"];
    let mut reader =
        cardhub_devices::id_reader::open("branch-id-reader", &IdReaderConfig::new(pty))
            .expect("the pty opens as a serial line");
    let today = chrono::Utc::now().date_naive();
    let read = reader
        .read_when_present(Duration::from_secs(10), today)
        .expect("the card is read");
    match &read.card {
        IdCard::PermanentResidence2023 { .. } => {}
        other => panic!("expected a 2023 permanent-residence card, got {other:?}"),
    }
    let number = read.number.expect("the sample's number checks");
    assert!(read.card.number().starts_with('9'), "{number:?}");
}

#[test]
fn the_simulated_camera_takes_a_photo_the_centre_accepts_over_tcp() {
    let sim = Sim::start(&["camera", "--seed", "7"], "cardhub sim camera ready");
    let address = &sim.fields["address"];
    let mut camera =
        cardhub_devices::camera::open_tcp("branch-camera", address, CameraOptions::default())
            .expect("the camera answers");
    let photo = camera.capture().expect("a photo is taken");
    let facts = PhotoRules::default()
        .check(&photo.bytes)
        .expect("the photo passes the centre's rules");
    assert_eq!((facts.width, facts.height), (358, 441));
}
