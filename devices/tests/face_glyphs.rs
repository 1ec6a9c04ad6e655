//! Characters on card faces: rare characters (CJK extension B and later)
//! are drawn as themselves, not as the missing-glyph box: from HanaMinA
//! where it has them (𠮷, 𪚥), from HanaMinB where only it does; a
//! character no font has is refused naming it, its code point and the
//! field; control characters are refused; labels are checked when the
//! renderer is built; the glyph cache stays bounded.

mod face_support;

use std::sync::Arc;

use cardhub_devices::face::{FaceError, Fonts, HANAMIN_FONTS, PageLayout, Renderer};
use face_support::{card_face, face_data, fonts, glyph_mask, ink, output_dir, overlap};

const HANAMIN_A: usize = 0;
const HANAMIN_B: usize = 1;

/// Draws the name `name` (whose first character is `rare`), checks that
/// `rare` was found in font `font` with a real glyph id, and that the
/// pixels drawn for it are that glyph and not the same font's `.notdef`
/// drawn at the same size and place.
fn rare_character_is_drawn_as_itself(name: &str, rare: char, font: usize, picture: &str) {
    let fonts = fonts();
    let renderer = card_face();
    let laid_out = renderer
        .layout_field("name", name)
        .expect("the card face has a name field")
        .expect("the name lays out");
    let placed = laid_out.glyphs[0];
    assert_eq!(placed.character, rare);
    assert_eq!(placed.glyph.font, font, "{rare} drawn from the wrong font");
    assert_ne!(placed.glyph.glyph_id, 0, "{rare} resolved to .notdef");
    assert_eq!(fonts.glyph_id_in(font, rare), Some(placed.glyph.glyph_id));

    let page = renderer
        .render(&face_data(name, 3))
        .expect("a name with a rare character renders");
    page.save(output_dir().join(picture))
        .expect("write the picture");

    // The character's cell: from its pen position to the next character's,
    // a line's height around the baseline.
    let size = laid_out.size_px;
    let x0 = placed.x;
    let x1 = laid_out
        .glyphs
        .get(1)
        .map_or(placed.x + size.ceil() as i32 + 4, |next| next.x);
    let top = placed.baseline - size.ceil() as i32;
    let bottom = placed.baseline + (size / 2.0).ceil() as i32;
    let drawn = ink(&page, [0xFF, 0xFF, 0xFF], x0, top, x1, bottom);
    assert!(
        drawn.len() > 100,
        "only {} pixels drawn for {rare}",
        drawn.len()
    );

    let real = fonts
        .rasterise(font, placed.glyph.glyph_id, size)
        .expect("the font is loaded");
    let notdef = fonts.rasterise(font, 0, size).expect("the font is loaded");
    let real_mask = glyph_mask(&real, placed.x, placed.baseline);
    let notdef_mask = glyph_mask(&notdef, placed.x, placed.baseline);
    let as_glyph = overlap(&drawn, &real_mask);
    let as_notdef = overlap(&drawn, &notdef_mask);
    assert!(
        as_glyph > 0.9,
        "the pixels drawn for {rare} are not its glyph (overlap {as_glyph:.2})"
    );
    assert!(
        as_notdef < 0.5,
        "the pixels drawn for {rare} look like .notdef (overlap {as_notdef:.2})"
    );
}

/// Extension B, C, D and E characters HanaMinA lacks: drawn from HanaMinB.
#[test]
fn extension_b_and_later_fall_back_to_hanamin_b() {
    let fonts = fonts();
    for (rare, picture) in [
        ('\u{20001}', "face-rare-20001.png"),
        ('\u{2A700}', "face-rare-2A700.png"),
        ('\u{2B740}', "face-rare-2B740.png"),
        ('\u{2B820}', "face-rare-2B820.png"),
    ] {
        assert_eq!(
            fonts.glyph_id_in(HANAMIN_A, rare),
            Some(0),
            "HanaMinA has {rare}: pick a character only HanaMinB has"
        );
        rare_character_is_drawn_as_itself(&format!("{rare}田"), rare, HANAMIN_B, picture);
    }
}

/// 𠮷 (U+20BB7) and 𪚥 (U+2A6A5) are among the 3,650 supplementary-plane
/// ideographs HanaMinA itself carries (it covers JIS X 0213's), so with
/// HanaMinA first they are drawn from it; HanaMinB has real glyphs for them
/// too. Either way: the character itself, never the missing-glyph box.
#[test]
fn ji_u20bb7_and_zhe_u2a6a5_are_drawn_as_themselves() {
    let fonts = fonts();
    for (rare, picture) in [('𠮷', "face-rare-20BB7.png"), ('𪚥', "face-rare-2A6A5.png")] {
        let in_b = fonts
            .glyph_id_in(HANAMIN_B, rare)
            .expect("HanaMinB is loaded");
        assert_ne!(in_b, 0, "HanaMinB has no glyph for {rare}");
        let first = fonts.lookup(rare).expect("some font has it").font;
        rare_character_is_drawn_as_itself(&format!("{rare}田"), rare, first, picture);
    }
    // With HanaMinB alone, they come from HanaMinB.
    let only_b = Arc::new(Fonts::load(&[HANAMIN_FONTS[1]]).expect("HanaMinB"));
    for rare in ['𠮷', '𪚥'] {
        let found = only_b.lookup(rare).expect("HanaMinB has it");
        assert_eq!(found.font, 0);
        assert_eq!(Some(found.glyph_id), fonts.glyph_id_in(HANAMIN_B, rare));
    }
}

#[test]
fn common_characters_come_from_the_first_font() {
    let renderer = card_face();
    let laid_out = renderer
        .layout_field("name", "张三 Li")
        .expect("name field")
        .expect("lays out");
    for placed in &laid_out.glyphs {
        assert_eq!(
            placed.glyph.font, HANAMIN_A,
            "{} not from HanaMinA",
            placed.character
        );
        assert_ne!(placed.glyph.glyph_id, 0);
    }
}

#[test]
fn a_character_in_no_font_is_refused_naming_it_and_the_field() {
    let renderer = card_face();
    // A private-use code point, and one unassigned in Unicode (Greek block).
    for missing in ['\u{10FFFD}', '\u{0378}'] {
        let name = format!("张{missing}三");
        for result in [
            renderer.check_text(&face_data(&name, 1)),
            renderer.render(&face_data(&name, 1)).map(drop),
        ] {
            match result {
                Err(FaceError::MissingGlyph {
                    field,
                    character,
                    code_point,
                }) => {
                    assert_eq!(character, missing);
                    assert_eq!(
                        code_point.to_string(),
                        format!("U+{:04X}", u32::from(missing))
                    );
                    assert!(field.contains("name"), "field named {field}");
                }
                other => panic!("{missing:?} not refused as missing: {other:?}"),
            }
        }
        let message = renderer
            .check_text(&face_data(&name, 1))
            .expect_err("refused")
            .to_string();
        assert!(
            message.contains(&format!("U+{:04X}", u32::from(missing))) && message.contains("name"),
            "message does not name the character and field: {message}"
        );
    }
}

#[test]
fn control_characters_are_refused() {
    let renderer = card_face();
    let err = renderer
        .check_text(&face_data("张\n三", 1))
        .expect_err("a line break in a name");
    assert!(
        matches!(&err, FaceError::ControlCharacter { field, code_point }
            if field.contains("name") && code_point.to_string() == "U+000A"),
        "{err:?}"
    );
}

#[test]
fn a_label_no_font_can_draw_is_refused_when_the_renderer_is_built() {
    let mut layout = PageLayout::card_face_default();
    layout.labels[2].text = "姓\u{10FFFD}名".to_owned();
    let err = Renderer::new(layout, fonts()).expect_err("label with a missing glyph");
    assert!(
        matches!(&err, FaceError::MissingGlyph { field, character: '\u{10FFFD}', .. }
            if field.contains("label")),
        "{err:?}"
    );
}

#[test]
fn fonts_that_cannot_be_loaded_are_refused_naming_the_file() {
    assert!(matches!(Fonts::load::<&str>(&[]), Err(FaceError::NoFonts)));

    let missing = "/nonexistent/cardhub/NoSuchFont.ttf";
    let err = Fonts::load(&[HANAMIN_FONTS[0], missing]).expect_err("missing file");
    assert!(matches!(&err, FaceError::FontRead { path, .. } if path.to_str() == Some(missing)));
    assert!(err.to_string().contains(missing), "{err}");

    let dir = tempfile::tempdir().expect("temp dir");
    let bogus = dir.path().join("not-a-font.ttf");
    std::fs::write(&bogus, b"this is not a font").expect("write");
    let err = Fonts::load(&[&bogus]).expect_err("not a font");
    assert!(
        matches!(&err, FaceError::FontInvalid { path, .. } if *path == bogus),
        "{err:?}"
    );
}

#[test]
fn the_glyph_cache_stays_bounded_and_evicting_changes_nothing_drawn() {
    let small = Arc::new(Fonts::load_with_cache(&HANAMIN_FONTS, 8).expect("fonts"));
    assert_eq!(small.glyph_cache_capacity(), 8);
    let bounded =
        Renderer::new(PageLayout::card_face_default(), Arc::clone(&small)).expect("renderer");
    let roomy = card_face();
    for name in ["赵钱孙李", "周吴郑王", "冯陈褚卫", "蒋沈韩杨", "𠮷野家"] {
        let data = face_data(name, 9);
        let a = bounded.render(&data).expect("renders");
        assert!(
            small.cached_glyphs() <= 8,
            "{} glyphs cached",
            small.cached_glyphs()
        );
        assert!(
            a == roomy.render(&data).expect("renders"),
            "{name} drawn differently"
        );
    }
}
