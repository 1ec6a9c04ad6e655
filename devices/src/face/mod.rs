//! Card faces (卡面) and envelope inner pages (邮封) drawn from a layout:
//! the colour panel a card printer prints, and the page that goes into a
//! passed card's envelope.
//!
//! ```text
//! PageLayout (TOML, [workshop.face])   Fonts::load(paths) (HanaMinA, HanaMinB)
//!              \                           /
//!               Renderer::new(layout, Arc<Fonts>)   layout checked once,
//!                              |                    static parts drawn once
//!   PageData { name, ssn, ... , photo JPEG }
//!                              |
//!          check_text / check  ->  render -> RgbImage -> encode_png -> PNG bytes
//! ```
//!
//! - Text: every character is drawn with the first font of the list that
//!   has a glyph for it; a character no font has is refused with
//!   [`FaceError::MissingGlyph`] naming it, its code point and the field,
//!   never drawn as a missing-glyph box or dropped. Extension B and later
//!   come from the first font that has them: HanaMinA carries 3,650 of the
//!   commonest (𠮷 U+20BB7 and 𪚥 U+2A6A5 among them), HanaMinB all the
//!   rest. A text wider than its field shrinks (down to the
//!   field's `min_size_px`) or is refused, as the field's [`Overflow`] says.
//! - Photos: JPEG only, checked whole (a cut-short file is refused), of an
//!   accepted size, scaled to fit the photo box keeping the aspect, centred.
//! - Speed: glyph masks are cached (bounded, shared by all renderers on the
//!   same [`Fonts`]); labels and bands are drawn once per renderer; photos
//!   are scaled with `fast_image_resize`'s SIMD filter; PNGs use the `png`
//!   crate's fastest setting. `devices/benches/face.rs` measures a face
//!   with a photo and a three-character name.
//!
//! This module draws pages; it does not print them (the printer driver in
//! `printer` sends the PNG as a panel), choose what goes on them (the
//! production line in `cardhub-actors` builds the [`PageData`]), or
//! substitute rare characters (that table is the chip's, in
//! `cardhub-protocols`). Synthetic photos for tests and simulators are
//! `cardhub_simulators::photo`.
//!
//! Layout:
//! - `layout`: [`PageLayout`] and its parts, serde for the configuration.
//! - `defaults`: [`PageLayout::card_face_default`],
//!   [`PageLayout::envelope_default`].
//! - `fonts`: [`Fonts`], [`FontConfig`], glyph look-up and rasterising.
//! - `cache`: the bounded glyph cache.
//! - `text`: one line laid out ([`TextLayout`]) and blended into a page.
//! - `photo`: JPEG check, decode and fit.
//! - `resample`: the photo's scaling filter.
//! - `render`: [`Renderer`], [`PageData`], [`encode_png`].
//! - `error`: [`FaceError`].

mod cache;
mod defaults;
mod error;
mod fonts;
mod layout;
mod photo;
mod render;
mod resample;
mod text;

pub use defaults::{A6_HEIGHT, A6_WIDTH};
pub use error::{CodePoint, FaceError};
pub use fonts::{DEFAULT_GLYPH_CACHE, FontConfig, Fonts, GlyphBitmap, GlyphRef, HANAMIN_FONTS};
pub use image::RgbImage;
pub use layout::{
    Align, Band, CARD_HEIGHT, CARD_WIDTH, Colour, Label, MAX_PAGE_SIDE, Overflow, PageLayout,
    PhotoBox, TEXT_SIZE_RANGE, TextField,
};
pub use render::{PageData, Renderer, encode_png};
pub use text::{PlacedGlyph, TextLayout};

/// The data keys the stock layouts draw, as the production line fills
/// [`PageData`]. A layout may use any other key too.
pub mod keys {
    /// 姓名: the holder's name as printed (rare characters included).
    pub const NAME: &str = "name";
    /// 社会保障号码: the social security number (the holder's ID number).
    pub const SSN: &str = "ssn";
    /// 社会保障卡号: the card number.
    pub const CARD_NUMBER: &str = "card_number";
    /// 发卡日期: the issue date as printed, e.g. `2025年07月`.
    pub const ISSUE_DATE: &str = "issue_date";
    /// 领卡网点: the branch the card is collected from (envelope).
    pub const BRANCH: &str = "branch";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renderer_and_fonts_are_send_and_sync() {
        fn shared<T: Send + Sync>() {}
        shared::<Renderer>();
        shared::<Fonts>();
        shared::<FaceError>();
    }

    #[test]
    fn stock_layouts_pass_the_font_free_checks() {
        PageLayout::card_face_default()
            .validate()
            .expect("card face layout");
        PageLayout::envelope_default()
            .validate()
            .expect("envelope layout");
    }
}
