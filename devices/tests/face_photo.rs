//! Photos on the card face: only whole JPEGs of an accepted size are drawn;
//! anything else is refused with a typed error, by `check` (before a card
//! starts) and by `render` alike. A photo of another shape is scaled to fit
//! and centred.

mod face_support;

use cardhub_devices::face::{FaceError, PageData, PageLayout};
use face_support::{card_face, face_data};
use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageFormat, RgbImage};

fn jpeg(image: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .encode(
            image.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::Rgb8,
        )
        .expect("encode a test JPEG");
    out
}

fn with_photo(bytes: Vec<u8>) -> PageData {
    let mut data = face_data("张三", 1);
    data.set_photo(bytes);
    data
}

/// Both the cheap check and the render refuse `bytes`; returns the error.
fn refused(bytes: Vec<u8>) -> FaceError {
    let renderer = card_face();
    let data = with_photo(bytes);
    let checked = renderer
        .check(&data)
        .expect_err("check accepted a bad photo");
    let rendered = renderer
        .render(&data)
        .expect_err("render accepted a bad photo");
    assert_eq!(
        std::mem::discriminant(&checked),
        std::mem::discriminant(&rendered),
        "check said {checked:?}, render said {rendered:?}"
    );
    rendered
}

#[test]
fn a_photo_that_is_not_a_jpeg_is_refused() {
    let mut png = Vec::new();
    RgbImage::from_pixel(358, 441, image::Rgb([200, 220, 240]))
        .write_to(&mut std::io::Cursor::new(&mut png), ImageFormat::Png)
        .expect("encode a PNG");
    let err = refused(png);
    assert!(matches!(&err, FaceError::PhotoNotJpeg { magic } if magic.starts_with("89504E47")));
    assert!(matches!(
        refused(Vec::new()),
        FaceError::PhotoNotJpeg { .. }
    ));
    assert!(matches!(
        refused(b"GIF89a....".to_vec()),
        FaceError::PhotoNotJpeg { .. }
    ));
}

#[test]
fn a_truncated_jpeg_is_refused() {
    let whole = cardhub_simulators::photo::id_photo(4);
    for cut in [whole.len() / 2, whole.len() - 2, 600, 4] {
        let err = refused(whole[..cut].to_vec());
        assert!(
            matches!(err, FaceError::PhotoCorrupt { .. }),
            "cut at {cut} of {}: {err:?}",
            whole.len()
        );
    }
}

#[test]
fn a_jpeg_with_a_broken_header_is_refused() {
    let mut broken = cardhub_simulators::photo::id_photo(4);
    // The first segment's length runs past the end of the file.
    broken[4] = 0xFF;
    broken[5] = 0xFF;
    assert!(matches!(refused(broken), FaceError::PhotoCorrupt { .. }));
    assert!(matches!(
        refused(vec![0xFF, 0xD8, 0xFF, 0xD9]),
        FaceError::PhotoCorrupt { .. }
    ));
}

#[test]
fn a_photo_too_small_or_too_large_is_refused_with_its_size() {
    let small = jpeg(&RgbImage::from_pixel(120, 150, image::Rgb([150, 190, 230])));
    match refused(small) {
        FaceError::PhotoSize {
            width: 120,
            height: 150,
            min_width: 200,
            min_height: 250,
            ..
        } => {}
        other => panic!("small photo: {other:?}"),
    }
    let huge = jpeg(&RgbImage::from_pixel(
        2500,
        300,
        image::Rgb([150, 190, 230]),
    ));
    assert!(matches!(
        refused(huge),
        FaceError::PhotoSize {
            width: 2500,
            height: 300,
            ..
        }
    ));
}

#[test]
fn a_wide_photo_is_scaled_to_fit_and_centred_in_its_box() {
    let layout = PageLayout::card_face_default();
    let photo_box = layout.photo.clone().expect("photo box");
    let fill = photo_box.fill.expect("stock box has a fill").0;
    // 600 x 300: scales to 264 x 132, leaving 96 rows of fill above and 97
    // below.
    let red = [0xD0, 0x20, 0x20];
    let wide = jpeg(&RgbImage::from_pixel(600, 300, image::Rgb(red)));
    let page = card_face().render(&with_photo(wide)).expect("renders");
    let at = |dx: u32, dy: u32| page.get_pixel(photo_box.x + dx, photo_box.y + dy).0;
    let near = |p: [u8; 3], q: [u8; 3]| p.iter().zip(q).all(|(&a, b)| a.abs_diff(b) < 16);
    for dy in [0, 50, 94, 232, 324] {
        assert!(
            near(at(132, dy), fill),
            "row {dy} should be the box's fill: {:?}",
            at(132, dy)
        );
    }
    for dy in [98, 162, 226] {
        for dx in [1, 132, 262] {
            assert!(
                near(at(dx, dy), red),
                "({dx}, {dy}) should be the photo: {:?}",
                at(dx, dy)
            );
        }
    }
}

#[test]
fn a_greyscale_jpeg_is_drawn_in_grey() {
    let layout = PageLayout::card_face_default();
    let photo_box = layout.photo.clone().expect("photo box");
    let grey = image::GrayImage::from_pixel(358, 441, image::Luma([0x80]));
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, 90)
        .encode(grey.as_raw(), 358, 441, ExtendedColorType::L8)
        .expect("encode a greyscale JPEG");
    let page = card_face().render(&with_photo(bytes)).expect("renders");
    let p = page.get_pixel(photo_box.x + 100, photo_box.y + 100).0;
    assert!(p.iter().all(|c| c.abs_diff(0x80) <= 2), "{p:?}");
}

#[test]
fn the_centres_photo_passes_the_check() {
    let renderer = card_face();
    for seed in 0..10 {
        renderer
            .check(&face_data("张三", seed))
            .expect("a synthetic ID photo is a good photo");
    }
}
