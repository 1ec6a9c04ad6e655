//! The stock card face and envelope page drawn end to end: sizes, PNG
//! round trip, the photo in its box, the fields where the layout puts them,
//! one renderer shared by several threads. The pages are written to
//! `<target>/faces/` for people to look at.

mod face_support;

use std::sync::Arc;

use cardhub_devices::face::{
    CARD_HEIGHT, CARD_WIDTH, Colour, FaceError, PageData, PageLayout, Renderer, encode_png,
};
use face_support::{card_face, envelope, face_data, fonts, ink, output_dir};
use image::ImageFormat;

#[test]
fn the_default_face_renders_at_cr80_size_and_decodes_back_from_png() {
    let renderer = card_face();
    let data = face_data("张晓明", 1);
    let page = renderer.render(&data).expect("the stock face renders");
    assert_eq!(page.dimensions(), (CARD_WIDTH, CARD_HEIGHT));
    assert_eq!(page.dimensions(), (1016, 648));

    let png = renderer.render_png(&data).expect("and encodes");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG signature");
    let decoded = image::load_from_memory_with_format(&png, ImageFormat::Png)
        .expect("the PNG decodes")
        .into_rgb8();
    assert!(decoded == page, "the PNG does not hold the rendered page");
    assert!(
        png.len() < page.as_raw().len() / 2,
        "fast deflate left {} of {} bytes",
        png.len(),
        page.as_raw().len()
    );
    std::fs::write(output_dir().join("card-face.png"), &png).expect("write card-face.png");
}

#[test]
fn the_default_envelope_renders_at_a6_size() {
    let data = PageData::new()
        .with("name", "张晓明")
        .with("card_number", "M31000086")
        .with("branch", "黄浦区社区事务受理服务中心");
    let png = envelope()
        .render_png(&data)
        .expect("the stock envelope renders");
    let decoded = image::load_from_memory_with_format(&png, ImageFormat::Png)
        .expect("the PNG decodes")
        .into_rgb8();
    assert_eq!(decoded.dimensions(), (1240, 1748));
    std::fs::write(output_dir().join("envelope.png"), &png).expect("write envelope.png");
}

#[test]
fn the_photo_fills_its_box_and_the_fields_are_drawn_where_the_layout_says() {
    let renderer = card_face();
    let layout = PageLayout::card_face_default();
    let photo_box = layout
        .photo
        .clone()
        .expect("the stock face has a photo box");
    let with = renderer.render(&face_data("张晓明", 5)).expect("renders");

    // The centre's 358 x 441 photo has nearly the box's shape: it covers
    // the box, so its corners show the photo's light-blue background, not
    // the box's fill.
    let fill = photo_box.fill.expect("the stock box has a fill").0;
    let corner = with.get_pixel(photo_box.x + 3, photo_box.y + 3).0;
    let blue = cardhub_simulators::photo::BACKGROUND;
    assert!(
        corner.iter().zip(blue).all(|(&c, b)| c.abs_diff(b) < 12),
        "photo corner is {corner:?}, not the photo's background"
    );
    assert_ne!(corner, fill);

    // Every field has ink in its own box, and only there: the same page
    // with a different name differs only inside the name field.
    for field in &layout.fields {
        let (ascent, descent) = (field.size_px, field.size_px / 3.0);
        let x1 = field.x + field.max_width.expect("stock fields have a width");
        let drawn = ink(
            &with,
            Colour::WHITE.0,
            field.x as i32,
            field.baseline as i32 - ascent as i32,
            x1 as i32,
            field.baseline as i32 + descent as i32,
        );
        assert!(
            drawn.len() > 50,
            "field {} drew {} pixels",
            field.key,
            drawn.len()
        );
    }
    let other = renderer.render(&face_data("李四", 5)).expect("renders");
    let name = &layout.fields[0];
    assert_eq!(name.key, "name");
    for (x, y, p) in with.enumerate_pixels() {
        if p != other.get_pixel(x, y) {
            let in_name = x >= name.x
                && x < name.x + name.max_width.unwrap_or(0)
                && y + name.size_px as u32 >= name.baseline
                && y <= name.baseline + name.size_px as u32 / 3;
            assert!(
                in_name,
                "({x}, {y}) changed with the name but is outside its field"
            );
        }
    }
}

#[test]
fn a_page_without_a_required_field_or_photo_is_refused() {
    let renderer = card_face();
    let no_ssn = PageData::new()
        .with("name", "张三")
        .with("card_number", "M31000086")
        .with("issue_date", "2025年07月")
        .with_photo(cardhub_simulators::photo::id_photo(2));
    assert!(matches!(
        renderer.render(&no_ssn),
        Err(FaceError::MissingField { key }) if key == "ssn"
    ));
    let empty_name = face_data("", 2);
    assert!(matches!(
        renderer.check_text(&empty_name),
        Err(FaceError::MissingField { key }) if key == "name"
    ));
    let no_photo = PageData::new()
        .with("name", "张三")
        .with("ssn", "310101199001011234")
        .with("card_number", "M31000086")
        .with("issue_date", "2025年07月");
    assert!(matches!(
        renderer.render(&no_photo),
        Err(FaceError::MissingPhoto)
    ));
    assert!(matches!(
        renderer.check(&no_photo),
        Err(FaceError::MissingPhoto)
    ));
    renderer
        .check_text(&no_photo)
        .expect("the text alone is complete");

    // Optional: the field and the photo may be left out.
    let mut layout = PageLayout::card_face_default();
    layout.fields[1].required = false;
    layout.photo.as_mut().expect("photo box").required = false;
    let lenient = Renderer::new(layout, fonts()).expect("valid");
    let no_ssn_no_photo = PageData::new()
        .with("name", "张三")
        .with("card_number", "M31000086")
        .with("issue_date", "2025年07月");
    lenient
        .render(&no_ssn_no_photo)
        .expect("optional parts left out");
}

#[test]
fn one_renderer_shared_by_threads_draws_what_it_draws_alone() {
    let renderer = Arc::new(card_face());
    let names = ["张晓明", "李𠮷", "王五六", "欧阳娜娜"];
    let alone: Vec<_> = names
        .iter()
        .map(|name| renderer.render(&face_data(name, 11)).expect("renders"))
        .collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let renderer = Arc::clone(&renderer);
                let alone = &alone;
                scope.spawn(move || {
                    for round in 0..3 {
                        let i = (t + round) % names.len();
                        let page = renderer.render(&face_data(names[i], 11)).expect("renders");
                        assert!(page == alone[i], "thread {t} drew {} differently", names[i]);
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().expect("a rendering thread panicked");
        }
    });
}

#[test]
fn encode_png_round_trips_any_page() {
    let page = image::RgbImage::from_fn(37, 11, |x, y| image::Rgb([x as u8 * 7, y as u8 * 23, 99]));
    let png = encode_png(&page).expect("encodes");
    let decoded = image::load_from_memory_with_format(&png, ImageFormat::Png)
        .expect("decodes")
        .into_rgb8();
    assert!(decoded == page);
}
