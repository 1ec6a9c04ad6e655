//! The page layout (版面): what goes where on a card face or an envelope
//! page, as it sits in the hub's TOML configuration (`[workshop.face]`).
//!
//! These are plain serde structs: every field documented here is the
//! configuration's documentation, unknown keys are refused, and every
//! optional key has the default written beside it. [`PageLayout::validate`]
//! checks what can be checked without fonts (boxes inside the page, sizes in
//! range); the [`Renderer`](super::Renderer) checks the rest (label glyphs,
//! line heights) once, when it is built. The two stock layouts are in
//! `defaults`.
//!
//! Coordinates are pixels of the printed page, `x` to the right and `y`
//! down from the top-left corner.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::FaceError;

/// Card face width: CR80 (85.60 mm) at 300 dpi, as the printer's colour
/// panel expects it.
pub const CARD_WIDTH: u32 = 1016;
/// Card face height: CR80 (53.98 mm) at 300 dpi.
pub const CARD_HEIGHT: u32 = 648;

/// Largest page side accepted, in pixels: an A4 sheet at 600 dpi is 7016,
/// anything bigger is a typing error (and would need hundreds of MB).
pub const MAX_PAGE_SIDE: u32 = 8192;
/// Text sizes accepted, in pixels: below 6 px (0.5 mm at 300 dpi) nothing
/// is legible; above 600 px one character fills a card.
pub const TEXT_SIZE_RANGE: (f32, f32) = (6.0, 600.0);

/// A colour, written `"#RRGGBB"` in the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Colour(pub [u8; 3]);

impl Colour {
    /// `#000000`.
    pub const BLACK: Colour = Colour([0, 0, 0]);
    /// `#FFFFFF`.
    pub const WHITE: Colour = Colour([0xFF, 0xFF, 0xFF]);
}

impl fmt::Display for Colour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [r, g, b] = self.0;
        write!(f, "#{r:02X}{g:02X}{b:02X}")
    }
}

impl FromStr for Colour {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = s
            .strip_prefix('#')
            .filter(|h| h.len() == 6 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| format!("colour {s:?} is not of the form \"#RRGGBB\""))?;
        let byte = |i: usize| {
            u8::from_str_radix(&hex[i..i + 2], 16).expect("six hex digits were checked above")
        };
        Ok(Colour([byte(0), byte(2), byte(4)]))
    }
}

impl Serialize for Colour {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Colour {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One page: a card face, or an envelope inner page (邮封).
///
/// Drawn in this order: background colour, background image, bands, the
/// photo box, labels, then the card's fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageLayout {
    /// Page width in pixels. Default 1016 (a CR80 card at 300 dpi).
    #[serde(default = "default_width")]
    pub width: u32,
    /// Page height in pixels. Default 648 (a CR80 card at 300 dpi).
    #[serde(default = "default_height")]
    pub height: u32,
    /// Page colour. Default `"#FFFFFF"`.
    #[serde(default = "white")]
    pub background: Colour,
    /// A PNG or JPEG drawn over the background colour, exactly the page's
    /// size (it is not scaled). Relative paths are from the hub's working
    /// directory. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background_image: Option<PathBuf>,
    /// Where the applicant's photo goes. Default: no photo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo: Option<PhotoBox>,
    /// Filled rectangles (header strips, rules). Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bands: Vec<Band>,
    /// Fixed texts, the same on every page (`姓名`, `社会保障号码`, ...).
    /// Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<Label>,
    /// Texts taken from the card's data by key. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<TextField>,
}

/// The applicant's photo: scaled to fit inside the box keeping its aspect
/// ratio, and centred in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhotoBox {
    /// Left edge of the box.
    pub x: u32,
    /// Top edge of the box.
    pub y: u32,
    /// Box width.
    pub width: u32,
    /// Box height.
    pub height: u32,
    /// Colour of the box where the photo does not cover it (a photo of
    /// another aspect ratio leaves bars). Default: the page shows through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fill: Option<Colour>,
    /// Whether a page without a photo is refused. Default `true`.
    #[serde(default = "yes")]
    pub required: bool,
    /// Smallest photo width accepted, in pixels. Default 200 (the centre's
    /// photos are 358 x 441; much smaller ones print blurred).
    #[serde(default = "default_photo_min_width")]
    pub min_width: u32,
    /// Smallest photo height accepted. Default 250.
    #[serde(default = "default_photo_min_height")]
    pub min_height: u32,
    /// Largest photo width accepted. Default 2400 (a bigger JPEG costs more
    /// to decode than the whole page costs to draw).
    #[serde(default = "default_photo_max_side")]
    pub max_width: u32,
    /// Largest photo height accepted. Default 2400.
    #[serde(default = "default_photo_max_side")]
    pub max_height: u32,
}

/// A filled rectangle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Fill colour.
    pub colour: Colour,
}

/// A fixed text, the same on every page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Label {
    /// The text (one line).
    pub text: String,
    /// Left edge of the text.
    pub x: u32,
    /// The text's baseline, from the top of the page.
    pub baseline: u32,
    /// Text size in pixels per em (a font size, as in CSS): a full-width
    /// CJK character advances this far, a half-width digit half of it.
    pub size_px: f32,
    /// Text colour. Default `"#000000"`.
    #[serde(default = "black")]
    pub colour: Colour,
}

/// A text taken from the card's data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextField {
    /// The data key whose value is drawn: `name`, `ssn`, `card_number`,
    /// `issue_date`, `branch` (see [`keys`](super::keys)), or any other key
    /// the production line supplies.
    pub key: String,
    /// Left edge of the field (where its text starts when left-aligned).
    pub x: u32,
    /// The text's baseline, from the top of the page. A shrunk text keeps
    /// this baseline, so it stays on the line of its label.
    pub baseline: u32,
    /// Text size in pixels per em (see [`Label::size_px`]).
    pub size_px: f32,
    /// Text colour. Default `"#000000"`.
    #[serde(default = "black")]
    pub colour: Colour,
    /// Widest the text may be, in pixels from `x`. Default: up to the right
    /// edge of the page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_width: Option<u32>,
    /// What happens to a text wider than `max_width`. Default `shrink`.
    #[serde(default)]
    pub overflow: Overflow,
    /// With `overflow = "shrink"`, the smallest size the text may shrink
    /// to; a text still too wide there is refused. Default: 60% of
    /// `size_px`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_size_px: Option<f32>,
    /// Where the text sits between `x` and `x + max_width`. Default `left`.
    #[serde(default)]
    pub align: Align,
    /// With `overflow = "shrink"`: the lines a text too wide for one line
    /// even at `min_size_px` may be broken into, at spaces (a long English
    /// name on a permanent-residence holder's card). The lines share one
    /// size and are centred on `baseline`. Default 1 (never broken).
    #[serde(default = "one_line")]
    pub max_lines: u8,
    /// Extra space between characters, in pixels at `size_px` (scaled down
    /// with the text when it shrinks). Default 0.
    #[serde(default)]
    pub letter_spacing_px: f32,
    /// Whether a page whose data lacks this key (or has it empty) is
    /// refused. Default `true`; an optional field left out draws nothing.
    #[serde(default = "yes")]
    pub required: bool,
}

/// What to do with a text too wide for its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Overflow {
    /// Draw it smaller, at the largest size (in quarter-pixel steps) at
    /// which it fits, but not below the field's `min_size_px`; a text too
    /// wide even there is refused with [`FaceError::TextTooLong`]. For
    /// names and addresses.
    #[default]
    Shrink,
    /// Refuse it with [`FaceError::TextTooLong`]. For numbers, whose length
    /// is fixed: a longer one is wrong data.
    Refuse,
}

/// Horizontal placement of a field's text within its width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Align {
    /// Starts at `x`.
    #[default]
    Left,
    /// Centred between `x` and `x + max_width`.
    Centre,
    /// Ends at `x + max_width`.
    Right,
}

fn one_line() -> u8 {
    1
}

impl TextField {
    /// The field's width: `max_width`, or up to the page's right edge.
    pub fn width_on(&self, page_width: u32) -> u32 {
        self.max_width
            .unwrap_or_else(|| page_width.saturating_sub(self.x))
    }

    /// The smallest size the text may shrink to.
    pub fn min_size(&self) -> f32 {
        match self.overflow {
            Overflow::Refuse => self.size_px,
            Overflow::Shrink => self.min_size_px.unwrap_or(self.size_px * 0.6),
        }
    }
}

impl PageLayout {
    /// Checks everything that needs no fonts: the page size, every box
    /// inside the page, text sizes in [`TEXT_SIZE_RANGE`], photo limits in
    /// order, field keys non-empty.
    pub fn validate(&self) -> Result<(), FaceError> {
        let invalid = |item: &str, reason: String| FaceError::InvalidLayout {
            item: item.to_owned(),
            reason,
        };
        if !(1..=MAX_PAGE_SIDE).contains(&self.width) || !(1..=MAX_PAGE_SIDE).contains(&self.height)
        {
            return Err(invalid(
                "page",
                format!(
                    "size {} x {} px is outside 1..={MAX_PAGE_SIDE} px",
                    self.width, self.height
                ),
            ));
        }
        if let Some(photo) = &self.photo {
            self.check_rect("photo box", photo.x, photo.y, photo.width, photo.height)?;
            if photo.min_width == 0 || photo.min_height == 0 {
                return Err(invalid(
                    "photo box",
                    "min_width and min_height must be at least 1 px".to_owned(),
                ));
            }
            if photo.min_width > photo.max_width || photo.min_height > photo.max_height {
                return Err(invalid(
                    "photo box",
                    format!(
                        "accepted photo sizes {} x {} up to {} x {} are empty",
                        photo.min_width, photo.min_height, photo.max_width, photo.max_height
                    ),
                ));
            }
        }
        for (i, band) in self.bands.iter().enumerate() {
            self.check_rect(
                &format!("band {}", i + 1),
                band.x,
                band.y,
                band.width,
                band.height,
            )?;
        }
        for label in &self.labels {
            let item = format!("label `{}`", label.text);
            if label.text.is_empty() {
                return Err(invalid(&item, "the text is empty".to_owned()));
            }
            check_size(&item, "size_px", label.size_px)?;
            self.check_point(&item, label.x, label.baseline)?;
        }
        for field in &self.fields {
            let item = format!("field `{}`", field.key);
            if field.key.is_empty() {
                return Err(invalid(&item, "the data key is empty".to_owned()));
            }
            check_size(&item, "size_px", field.size_px)?;
            if !(1..=3).contains(&field.max_lines) {
                return Err(invalid(
                    &item,
                    format!("max_lines {} is outside 1..=3", field.max_lines),
                ));
            }
            let min = field.min_size();
            check_size(&item, "min_size_px", min)?;
            if min > field.size_px {
                return Err(invalid(
                    &item,
                    format!("min_size_px {min} is larger than size_px {}", field.size_px),
                ));
            }
            if !field.letter_spacing_px.is_finite() || field.letter_spacing_px.abs() > field.size_px
            {
                return Err(invalid(
                    &item,
                    format!(
                        "letter_spacing_px {} must be within ±size_px",
                        field.letter_spacing_px
                    ),
                ));
            }
            self.check_point(&item, field.x, field.baseline)?;
            let width = field.width_on(self.width);
            if width == 0 || field.x.saturating_add(width) > self.width {
                return Err(invalid(
                    &item,
                    format!(
                        "x {} + max_width {width} does not fit the page's width {}",
                        field.x, self.width
                    ),
                ));
            }
        }
        Ok(())
    }

    fn check_rect(&self, item: &str, x: u32, y: u32, w: u32, h: u32) -> Result<(), FaceError> {
        if w == 0 || h == 0 || x.saturating_add(w) > self.width || y.saturating_add(h) > self.height
        {
            return Err(FaceError::InvalidLayout {
                item: item.to_owned(),
                reason: format!(
                    "{w} x {h} px at ({x}, {y}) is empty or not inside the {} x {} page",
                    self.width, self.height
                ),
            });
        }
        Ok(())
    }

    fn check_point(&self, item: &str, x: u32, baseline: u32) -> Result<(), FaceError> {
        if x >= self.width || baseline > self.height {
            return Err(FaceError::InvalidLayout {
                item: item.to_owned(),
                reason: format!(
                    "x {x}, baseline {baseline} is outside the {} x {} page",
                    self.width, self.height
                ),
            });
        }
        Ok(())
    }
}

fn check_size(item: &str, key: &str, size: f32) -> Result<(), FaceError> {
    let (low, high) = TEXT_SIZE_RANGE;
    if !(low..=high).contains(&size) {
        return Err(FaceError::InvalidLayout {
            item: item.to_owned(),
            reason: format!("{key} {size} is outside {low}..={high} px"),
        });
    }
    Ok(())
}

fn default_width() -> u32 {
    CARD_WIDTH
}

fn default_height() -> u32 {
    CARD_HEIGHT
}

fn white() -> Colour {
    Colour::WHITE
}

fn black() -> Colour {
    Colour::BLACK
}

fn yes() -> bool {
    true
}

fn default_photo_min_width() -> u32 {
    200
}

fn default_photo_min_height() -> u32 {
    250
}

fn default_photo_max_side() -> u32 {
    2400
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_read_and_print_as_hex() {
        let colour: Colour = "#1f5FA8".parse().expect("valid colour");
        assert_eq!(colour, Colour([0x1F, 0x5F, 0xA8]));
        assert_eq!(colour.to_string(), "#1F5FA8");
        for bad in ["1F5FA8", "#1F5FA", "#1F5FAZ", "#1F5FA80", ""] {
            assert!(bad.parse::<Colour>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn min_size_defaults_to_sixty_percent_and_refuse_never_shrinks() {
        let mut field = TextField {
            key: "name".into(),
            x: 0,
            baseline: 50,
            size_px: 40.0,
            colour: Colour::BLACK,
            max_width: None,
            overflow: Overflow::Shrink,
            min_size_px: None,
            align: Align::Left,
            max_lines: 1,
            letter_spacing_px: 0.0,
            required: true,
        };
        assert_eq!(field.min_size(), 24.0);
        field.overflow = Overflow::Refuse;
        field.min_size_px = Some(10.0);
        assert_eq!(field.min_size(), 40.0);
        assert_eq!(field.width_on(1016), 1016);
    }
}
