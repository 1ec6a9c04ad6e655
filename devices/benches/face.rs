//! How long a card face takes: render + PNG encode of the stock card face
//! with a 358 x 441 JPEG photo and a three-character name, as the
//! production line asks for it once per card; its parts (photo decode and
//! scale, text, PNG); the envelope page; and two threads sharing one
//! renderer, as two printers do on the 2-core workshop machine.
//!
//! `cargo bench -p cardhub-devices --bench face` (HanaMin fonts installed:
//! `make` installs `fonts-hanazono`).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cardhub_devices::face::{Fonts, HANAMIN_FONTS, PageData, PageLayout, Renderer, encode_png};
use criterion::{Criterion, criterion_group, criterion_main};

fn face_data(seed: u64) -> PageData {
    PageData::new()
        .with("name", "张晓明")
        .with("ssn", "310101199001011234")
        .with("card_number", "M31000086")
        .with("issue_date", "2025年07月")
        .with_photo(cardhub_simulators::photo::id_photo(seed))
}

fn bench_face(c: &mut Criterion) {
    let fonts = Arc::new(Fonts::load(&HANAMIN_FONTS).expect("HanaMin fonts (fonts-hanazono)"));
    let face = Arc::new(
        Renderer::new(PageLayout::card_face_default(), Arc::clone(&fonts)).expect("stock face"),
    );
    let envelope =
        Renderer::new(PageLayout::envelope_default(), Arc::clone(&fonts)).expect("stock envelope");
    let data = face_data(1);
    let no_photo_box = {
        let mut layout = PageLayout::card_face_default();
        layout.photo = None;
        Renderer::new(layout, Arc::clone(&fonts)).expect("face without photo")
    };
    let envelope_data = PageData::new()
        .with("name", "张晓明")
        .with("card_number", "M31000086")
        .with("branch", "黄浦区社区事务受理服务中心");

    let mut group = c.benchmark_group("face");
    group.bench_function("render_png card face, photo, 3-char name", |b| {
        b.iter(|| face.render_png(black_box(&data)).expect("renders"))
    });
    group.bench_function("render card face (no PNG)", |b| {
        b.iter(|| face.render(black_box(&data)).expect("renders"))
    });
    let page = face.render(&data).expect("renders");
    group.bench_function("encode_png card face", |b| {
        b.iter(|| encode_png(black_box(&page)).expect("encodes"))
    });
    group.bench_function("render card face text only (no photo box)", |b| {
        b.iter(|| no_photo_box.render(black_box(&data)).expect("renders"))
    });
    group.bench_function("check_text card face", |b| {
        b.iter(|| face.check_text(black_box(&data)).expect("checks"))
    });
    group.bench_function("render_png envelope", |b| {
        b.iter(|| {
            envelope
                .render_png(black_box(&envelope_data))
                .expect("renders")
        })
    });
    // Two printers' threads on one renderer: time per face over both.
    group.bench_function("render_png card face, 2 threads, per face", |b| {
        b.iter_custom(|iters| {
            let per_thread = iters.div_ceil(2);
            let start = Instant::now();
            std::thread::scope(|scope| {
                for _ in 0..2 {
                    let face = Arc::clone(&face);
                    let data = &data;
                    scope.spawn(move || {
                        for _ in 0..per_thread {
                            black_box(face.render_png(data).expect("renders"));
                        }
                    });
                }
            });
            let elapsed = start.elapsed();
            elapsed.mul_f64(iters as f64 / (2 * per_thread) as f64)
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    targets = bench_face
}
criterion_main!(benches);
