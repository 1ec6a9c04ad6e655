//! Layouts as configuration: read from TOML as the hub's `[workshop.face]`
//! section would hold them, unknown keys refused, the example files in
//! `config/faces/` equal to the stock layouts, impossible layouts refused
//! when the renderer is built; and the overflow rule for long texts
//! (`shrink` down to `min_size_px`, then refuse; `refuse` at once).

mod face_support;

use cardhub_devices::face::{
    Align, Colour, FaceError, FontConfig, HANAMIN_FONTS, Overflow, PageLayout, Renderer,
};
use face_support::{card_face, envelope, face_data, fonts, ink, output_dir};
use serde::Deserialize;

const CARD_FACE_TOML: &str = include_str!("../../config/faces/card-face.toml");
const ENVELOPE_TOML: &str = include_str!("../../config/faces/envelope.toml");

fn parse(text: &str) -> Result<PageLayout, toml::de::Error> {
    toml::from_str(text)
}

#[test]
fn the_example_files_are_the_stock_layouts() {
    assert_eq!(
        parse(CARD_FACE_TOML).expect("config/faces/card-face.toml parses"),
        PageLayout::card_face_default()
    );
    assert_eq!(
        parse(ENVELOPE_TOML).expect("config/faces/envelope.toml parses"),
        PageLayout::envelope_default()
    );
}

#[test]
fn a_layout_sits_in_the_hubs_configuration_with_its_defaults() {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Hub {
        workshop: Workshop,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Workshop {
        #[serde(default)]
        fonts: FontConfig,
        face: PageLayout,
    }
    let hub: Hub = toml::from_str(
        r##"
        [workshop.face]
        background = "#F0F4F8"

        [workshop.face.photo]
        x = 40
        y = 100
        width = 264
        height = 325

        [[workshop.face.fields]]
        key = "name"
        x = 340
        baseline = 200
        size_px = 44
        overflow = "refuse"
        align = "centre"
        "##,
    )
    .expect("a hub configuration with a face layout");
    let face = hub.workshop.face;
    assert_eq!((face.width, face.height), (1016, 648));
    assert_eq!(face.background, Colour([0xF0, 0xF4, 0xF8]));
    let photo = face.photo.expect("photo box");
    assert!(photo.required);
    assert_eq!((photo.min_width, photo.min_height), (200, 250));
    let name = &face.fields[0];
    assert_eq!(name.colour, Colour::BLACK);
    assert_eq!(
        (name.overflow, name.align),
        (Overflow::Refuse, Align::Centre)
    );
    assert!(name.required);
    assert_eq!(name.max_width, None);
    assert_eq!(
        hub.workshop.fonts.paths,
        HANAMIN_FONTS.map(std::path::PathBuf::from).to_vec()
    );
}

#[test]
fn unknown_keys_are_refused_wherever_they_are() {
    let cases = [
        ("top level", "colour = \"#FFFFFF\"\n"),
        (
            "photo box",
            "[photo]\nx = 1\ny = 1\nwidth = 10\nheight = 10\nw = 10\n",
        ),
        (
            "field",
            "[[fields]]\nkey = \"name\"\nx = 1\nbaseline = 50\nsize_px = 40\nfont_size = 40\n",
        ),
        (
            "label",
            "[[labels]]\ntext = \"姓名\"\nx = 1\nbaseline = 50\nsize_px = 30\nbold = true\n",
        ),
        (
            "band",
            "[[bands]]\nx = 0\ny = 0\nwidth = 5\nheight = 5\ncolour = \"#000000\"\nalpha = 1\n",
        ),
    ];
    for (place, text) in cases {
        let err = parse(text).expect_err(place).to_string();
        assert!(err.contains("unknown field"), "{place}: {err}");
    }
    let err = toml::from_str::<FontConfig>("paths = []\ncache = 3\n").expect_err("fonts");
    assert!(err.to_string().contains("unknown field"), "{err}");
}

#[test]
fn bad_values_are_refused() {
    assert!(parse("background = \"white\"\n").is_err());
    assert!(
        parse("[[fields]]\nkey = \"n\"\nx = 1\nbaseline = 9\nsize_px = 9\noverflow = \"wrap\"\n")
            .is_err()
    );
}

#[test]
fn impossible_layouts_are_refused_naming_the_part() {
    let refused = |change: &dyn Fn(&mut PageLayout), part: &str| {
        let mut layout = PageLayout::card_face_default();
        change(&mut layout);
        match Renderer::new(layout, fonts()) {
            Err(FaceError::InvalidLayout { item, .. }) => {
                assert!(item.contains(part), "{part}: refused naming {item}")
            }
            other => panic!("{part}: not refused: {other:?}"),
        }
    };
    refused(&|l| l.photo.as_mut().expect("box").x = 900, "photo box");
    refused(&|l| l.photo.as_mut().expect("box").height = 0, "photo box");
    refused(
        &|l| l.photo.as_mut().expect("box").min_width = 5000,
        "photo box",
    );
    refused(&|l| l.bands[0].width = 2000, "band 1");
    refused(&|l| l.fields[0].max_width = Some(600), "field `name`");
    refused(&|l| l.fields[0].size_px = 0.5, "field `name`");
    refused(&|l| l.fields[0].min_size_px = Some(60.0), "field `name`");
    refused(&|l| l.fields[0].baseline = 10, "field `name`");
    refused(&|l| l.fields[0].key.clear(), "field");
    refused(&|l| l.labels[0].x = 700, "label `中华人民共和国社会保障卡`");
    refused(&|l| l.width = 0, "page");
    refused(&|l| l.width = 100_000, "page");
}

#[test]
fn a_background_image_must_be_the_page_size() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = dir.path().join("good.png");
    let bad = dir.path().join("bad.png");
    image::RgbImage::from_pixel(1016, 648, image::Rgb([0xEE, 0xF2, 0xE0]))
        .save(&good)
        .expect("write");
    image::RgbImage::from_pixel(100, 100, image::Rgb([0, 0, 0]))
        .save(&bad)
        .expect("write");

    let mut layout = PageLayout::card_face_default();
    layout.background_image = Some(good);
    let renderer = Renderer::new(layout.clone(), fonts()).expect("a page-sized background");
    let page = renderer.render(&face_data("张三", 1)).expect("renders");
    // Between the header and the footer, outside the photo and the text.
    assert_eq!(page.get_pixel(20, 540).0, [0xEE, 0xF2, 0xE0]);

    layout.background_image = Some(bad.clone());
    assert!(matches!(
        Renderer::new(layout.clone(), fonts()),
        Err(FaceError::BackgroundImage { path, .. }) if path == bad
    ));
    layout.background_image = Some(dir.path().join("missing.png"));
    assert!(matches!(
        Renderer::new(layout, fonts()),
        Err(FaceError::BackgroundImage { .. })
    ));
}

// The stock card face's name: 44 px with 4 px letter spacing, 420 px wide,
// shrinking down to 26 px.
#[test]
fn a_long_name_shrinks_to_fit_keeping_its_baseline() {
    let renderer = card_face();
    let layout = PageLayout::card_face_default();
    let field = &layout.fields[0];
    let max_width = field.max_width.expect("stock width") as f32;

    let short = renderer
        .layout_field("name", "张三")
        .expect("name field")
        .expect("fits");
    assert_eq!(short.size_px, 44.0);

    let long = "阿卜杜热合曼·买买提江";
    let laid_out = renderer
        .layout_field("name", long)
        .expect("name field")
        .expect("shrinks to fit");
    assert!(
        laid_out.size_px < 44.0 && laid_out.size_px >= 26.0,
        "drawn at {} px",
        laid_out.size_px
    );
    assert!(
        laid_out.width_px <= max_width,
        "{} px wide",
        laid_out.width_px
    );
    assert!(
        laid_out.width_px > max_width - 12.0,
        "shrunk more than needed: {} px",
        laid_out.width_px
    );
    assert!(
        laid_out
            .glyphs
            .iter()
            .all(|g| g.baseline == field.baseline as i32)
    );

    // On the page, no ink beyond the field's right edge.
    let page = renderer.render(&face_data(long, 2)).expect("renders");
    page.save(output_dir().join("card-face-long-name.png"))
        .expect("write the picture");
    let right = (field.x as f32 + max_width) as i32;
    let past = ink(
        &page,
        Colour::WHITE.0,
        right + 1,
        field.baseline as i32 - 50,
        1016,
        field.baseline as i32 + 15,
    );
    assert!(past.is_empty(), "{} pixels past the field", past.len());
}

// A permanent-residence holder's 43-character English name and Chinese
// name do not fit one line even at 26 px: they are broken at spaces onto
// lines of one size, centred on the field's baseline, inside its width.
#[test]
fn a_long_english_name_is_broken_onto_lines() {
    let renderer = card_face();
    let layout = PageLayout::card_face_default();
    let field = &layout.fields[0];
    let max_width = field.max_width.expect("stock width") as f32;
    let name = "ABDULLAH MOHAMMED BIN SALMAN AL SAUD KHALID 阿卜杜拉";
    let laid_out = renderer
        .layout_field("name", name)
        .expect("name field")
        .expect("fits on several lines");
    assert!(laid_out.size_px >= 26.0, "drawn at {} px", laid_out.size_px);
    assert!(
        laid_out.width_px <= max_width,
        "{} px wide",
        laid_out.width_px
    );
    let mut baselines: Vec<i32> = laid_out.glyphs.iter().map(|g| g.baseline).collect();
    baselines.dedup();
    assert!((2..=3).contains(&baselines.len()), "lines: {baselines:?}");
    let last = *baselines.last().expect("lines");
    let centre = (baselines[0] + last) as f32 / 2.0;
    assert!(
        (centre - field.baseline as f32).abs() <= 1.0,
        "centred on the baseline: {baselines:?}"
    );
    // Every character is drawn, none twice, in order.
    let drawn: String = laid_out.glyphs.iter().map(|g| g.character).collect();
    assert_eq!(drawn.replace(' ', ""), name.replace(' ', ""));
    // The break is at a space: each line starts with a whole word.
    let second = laid_out
        .glyphs
        .iter()
        .position(|g| g.baseline == baselines[1])
        .expect("a second line");
    assert_ne!(laid_out.glyphs[second - 1].character, ' ');
    let page = renderer.render(&face_data(name, 3)).expect("renders");
    page.save(output_dir().join("card-face-broken-name.png"))
        .expect("write the picture");
    let right = (field.x as f32 + max_width) as i32;
    let past = ink(
        &page,
        Colour::WHITE.0,
        right + 1,
        baselines[0] - 40,
        1016,
        last + 12,
    );
    assert!(past.is_empty(), "{} pixels past the field", past.len());

    // A long name with no space to break at is still refused.
    let unbroken = "阿".repeat(20);
    assert!(matches!(
        renderer
            .layout_field("name", &unbroken)
            .expect("name field"),
        Err(FaceError::TextTooLong { .. })
    ));
}

#[test]
fn a_name_too_long_even_at_the_smallest_size_is_refused() {
    let renderer = card_face();
    let name = "张".repeat(20);
    for result in [
        renderer.check_text(&face_data(&name, 1)),
        renderer.render(&face_data(&name, 1)).map(drop),
    ] {
        match result {
            Err(FaceError::TextTooLong {
                key,
                chars: 20,
                size_px,
                max_width_px: 420,
                needed_px,
            }) => {
                assert_eq!(key, "name");
                assert_eq!(size_px, 26.0);
                assert!(needed_px > 420);
            }
            other => panic!("20-character name: {other:?}"),
        }
    }
}

#[test]
fn a_refuse_field_refuses_a_text_too_long_at_its_size() {
    let renderer = card_face();
    let mut data = face_data("张三", 1);
    data.set("ssn", "3".repeat(40));
    assert!(matches!(
        renderer.check_text(&data),
        Err(FaceError::TextTooLong { key, .. }) if key == "ssn"
    ));
    data.set("ssn", "31010119900101123X");
    renderer
        .check_text(&data)
        .expect("an 18-character number fits");
}

#[test]
fn alignment_places_the_text_within_its_width() {
    let text = "张三";
    let place = |align: Align| {
        let mut layout = PageLayout::card_face_default();
        layout.fields[0].align = align;
        let renderer = Renderer::new(layout, fonts()).expect("valid");
        let laid_out = renderer
            .layout_field("name", text)
            .expect("field")
            .expect("fits");
        (laid_out.glyphs[0].x, laid_out.width_px)
    };
    let (left, width) = place(Align::Left);
    let (centre, _) = place(Align::Centre);
    let (right, _) = place(Align::Right);
    assert_eq!(left, 556);
    assert!((centre as f32 - (556.0 + (420.0 - width) / 2.0)).abs() <= 1.0);
    assert!((right as f32 - (556.0 + 420.0 - width)).abs() <= 1.0);
}

#[test]
fn the_envelope_shrinks_a_long_branch_name() {
    let renderer = envelope();
    let laid_out = renderer
        .layout_field(
            "branch",
            "浦东新区陆家嘴街道社区事务受理服务中心（东昌路分中心）",
        )
        .expect("branch field")
        .expect("shrinks to fit");
    assert!(laid_out.size_px < 52.0 && laid_out.size_px >= 30.0);
}
