//! How long the printer's side of a card takes through the driver and the
//! simulated printer with instant steps (`Timing::zero`), over TCP and
//! over a pseudo-terminal: the protocol and transport cost a production
//! line pays per card on top of the printer's own mechanics (20-30 s on a
//! real one). A card is feed, contact station, contactless station, the
//! stock face (rendered once by `cardhub_devices::face`) downloaded,
//! print, overlay, eject: 7 commands and one panel of a few hundred KiB.
//! Also one status query alone.
//!
//! `cargo bench -p cardhub-devices --bench printer` (HanaMin fonts
//! installed). The simulator saves its state file after every change (it
//! fsyncs); `TMPDIR=/dev/shm` takes the disk out of the figures.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use cardhub_devices::face::{Fonts, HANAMIN_FONTS, PageData, PageLayout, Renderer};
use cardhub_devices::printer::{self, CardPrinter, Panel, PrinterAddress, Station};
use cardhub_simulators::printer::{HostTransport, PrinterSimConfig, PrinterSimulator};
use criterion::{Criterion, criterion_group, criterion_main};

fn face_png() -> Vec<u8> {
    let fonts = Arc::new(Fonts::load(&HANAMIN_FONTS).expect("HanaMin fonts (fonts-hanazono)"));
    let renderer = Renderer::new(PageLayout::card_face_default(), fonts).expect("stock face");
    let data = PageData::new()
        .with("name", "张晓明")
        .with("ssn", "310101199001011234")
        .with("card_number", "M31000086")
        .with("issue_date", "2025年07月")
        .with_photo(cardhub_simulators::photo::id_photo(1));
    renderer.render_png(&data).expect("the stock face renders")
}

fn one_card(p: &mut dyn CardPrinter, face: &[u8]) {
    p.feed().unwrap();
    p.move_to(Station::Contact).unwrap();
    p.move_to(Station::Contactless).unwrap();
    p.download_panel(Panel::Colour, face).unwrap();
    p.print().unwrap();
    p.overlay().unwrap();
    p.eject().unwrap();
}

fn bench_printer(c: &mut Criterion) {
    let face = face_png();
    eprintln!("stock face PNG: {} bytes", face.len());
    for (label, host) in [
        ("tcp", HostTransport::Tcp("127.0.0.1:0".parse().unwrap())),
        ("pty", HostTransport::Pty),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = PrinterSimConfig::new(dir.path(), [0x5A; 16]);
        config.host = host;
        config.write_faces = false;
        config.hopper = Some(1_000_000);
        config.ribbon = Some(1_000_000);
        let sim = PrinterSimulator::start(config).unwrap();
        let address: PrinterAddress = sim.host_address().parse().unwrap();
        let mut p = printer::open("bench", &address).unwrap();
        let mut group = c.benchmark_group(format!("printer/{label}"));
        group.sample_size(30);
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(5));
        group.bench_function("status query", |b| {
            b.iter(|| black_box(p.status().unwrap()))
        });
        group.bench_function("one card (7 commands, face download)", |b| {
            b.iter(|| one_card(p.as_mut(), &face))
        });
        group.finish();
        drop(p);
        sim.stop();
    }
}

criterion_group!(benches, bench_printer);
criterion_main!(benches);
