//! The two stock layouts: a Shanghai social security card face (photo left,
//! labels and values right) and an A6 envelope inner page (邮封). The same
//! layouts are written out as TOML in `config/faces/`, and a test keeps the
//! two equal.

use super::keys;
use super::layout::{
    Align, Band, CARD_HEIGHT, CARD_WIDTH, Colour, Label, Overflow, PageLayout, PhotoBox, TextField,
};

/// The header and footer strips' blue.
const BLUE: Colour = Colour([0x1F, 0x5F, 0xA8]);
/// The rule under the header.
const RED: Colour = Colour([0xC8, 0x10, 0x2E]);
/// Labels' grey.
const LABEL_GREY: Colour = Colour([0x4A, 0x55, 0x66]);
/// Values: near-black prints crisper than pure black on dye ribbons.
const INK: Colour = Colour([0x11, 0x11, 0x11]);

/// A6 (105 x 148 mm) at 300 dpi, portrait.
pub const A6_WIDTH: u32 = 1240;
/// A6 height at 300 dpi.
pub const A6_HEIGHT: u32 = 1748;

fn label(text: &str, x: u32, baseline: u32, size_px: f32, colour: Colour) -> Label {
    Label {
        text: text.to_owned(),
        x,
        baseline,
        size_px,
        colour,
    }
}

fn field(key: &str, x: u32, baseline: u32, size_px: f32, max_width: u32) -> TextField {
    TextField {
        key: key.to_owned(),
        x,
        baseline,
        size_px,
        colour: INK,
        max_width: Some(max_width),
        overflow: Overflow::Refuse,
        min_size_px: None,
        align: Align::Left,
        max_lines: 1,
        letter_spacing_px: 0.0,
        required: true,
    }
}

fn band(x: u32, y: u32, width: u32, height: u32, colour: Colour) -> Band {
    Band {
        x,
        y,
        width,
        height,
        colour,
    }
}

impl PageLayout {
    /// The card face: 1016 x 648 (CR80 at 300 dpi). A blue header with
    /// `中华人民共和国社会保障卡` and `上海`, the photo on the left
    /// (264 x 325, the centre's 358 x 441 photos scaled), and on the right
    /// four rows of label and value: `姓名` name (shrinks down to 26 px for
    /// long names, then breaks onto up to three lines), `社会保障号码` ssn, `社会保障卡号` card_number,
    /// `发卡日期` issue_date (these three refuse a value too long).
    pub fn card_face_default() -> PageLayout {
        let value_x = 556;
        let value_width = CARD_WIDTH - 40 - value_x;
        let mut name = field(keys::NAME, value_x, 222, 44.0, value_width);
        name.overflow = Overflow::Shrink;
        name.min_size_px = Some(26.0);
        // A permanent-residence holder's English name (up to 46
        // characters) and Chinese name go on up to three lines.
        name.max_lines = 3;
        name.letter_spacing_px = 4.0;
        PageLayout {
            width: CARD_WIDTH,
            height: CARD_HEIGHT,
            background: Colour::WHITE,
            background_image: None,
            photo: Some(PhotoBox {
                x: 48,
                y: 150,
                width: 264,
                height: 325,
                fill: Some(Colour([0xE6, 0xEC, 0xF3])),
                required: true,
                min_width: 200,
                min_height: 250,
                max_width: 2400,
                max_height: 2400,
            }),
            bands: vec![
                band(0, 0, CARD_WIDTH, 112, BLUE),
                band(0, 112, CARD_WIDTH, 6, RED),
                band(0, 596, CARD_WIDTH, 52, BLUE),
            ],
            labels: vec![
                label("中华人民共和国社会保障卡", 40, 74, 48.0, Colour::WHITE),
                label("上海", 896, 74, 40.0, Colour::WHITE),
                label("姓名", 350, 222, 30.0, LABEL_GREY),
                label("社会保障号码", 350, 302, 30.0, LABEL_GREY),
                label("社会保障卡号", 350, 382, 30.0, LABEL_GREY),
                label("发卡日期", 350, 462, 30.0, LABEL_GREY),
                label("上海市人力资源和社会保障局", 40, 632, 24.0, Colour::WHITE),
            ],
            fields: vec![
                name,
                field(keys::SSN, value_x, 302, 34.0, value_width),
                field(keys::CARD_NUMBER, value_x, 382, 34.0, value_width),
                field(keys::ISSUE_DATE, value_x, 462, 34.0, value_width),
            ],
        }
    }

    /// The envelope inner page (邮封): A6 portrait at 300 dpi
    /// (1240 x 1748). A blue header `上海市社会保障卡` / `领卡通知`, the
    /// holder's name large (120 px, shrinking down to 64 px), the card
    /// number, the branch to collect the card from (领卡网点, shrinking down
    /// to 30 px for long branch names), and a line of instructions.
    pub fn envelope_default() -> PageLayout {
        let x = 100;
        let width = A6_WIDTH - 2 * x;
        let mut name = field(keys::NAME, x, 480, 120.0, width);
        name.overflow = Overflow::Shrink;
        name.min_size_px = Some(64.0);
        name.letter_spacing_px = 12.0;
        let mut branch = field(keys::BRANCH, x, 920, 52.0, width);
        branch.overflow = Overflow::Shrink;
        branch.min_size_px = Some(30.0);
        PageLayout {
            width: A6_WIDTH,
            height: A6_HEIGHT,
            background: Colour::WHITE,
            background_image: None,
            photo: None,
            bands: vec![
                band(0, 0, A6_WIDTH, 180, BLUE),
                band(0, 180, A6_WIDTH, 8, RED),
                band(x, 1000, width, 4, Colour([0xB0, 0xB8, 0xC4])),
                band(0, 1688, A6_WIDTH, 60, BLUE),
            ],
            labels: vec![
                label("上海市社会保障卡", x, 118, 72.0, Colour::WHITE),
                label("领卡通知", 964, 116, 44.0, Colour::WHITE),
                label("持卡人", x, 330, 40.0, LABEL_GREY),
                label("社会保障卡号", x, 620, 40.0, LABEL_GREY),
                label("领卡网点", x, 840, 40.0, LABEL_GREY),
                label(
                    "请持本人有效身份证件到上述网点领取社会保障卡，",
                    x,
                    1090,
                    36.0,
                    INK,
                ),
                label("领卡后请及时激活。咨询电话：12333", x, 1150, 36.0, INK),
                label("上海市社会保障卡服务中心", x, 1730, 32.0, Colour::WHITE),
            ],
            fields: vec![name, field(keys::CARD_NUMBER, x, 710, 64.0, width), branch],
        }
    }
}
