//! What the `face_*` tests share: the HanaMin fonts loaded once per test
//! binary, the stock renderers, a synthetic photo, where pictures are
//! written for people to look at, and pixel masks for comparing glyphs.

#![allow(dead_code)] // each test binary uses its own part of this

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use cardhub_devices::face::{Fonts, GlyphBitmap, HANAMIN_FONTS, PageData, PageLayout, Renderer};
use image::RgbImage;

/// The HanaMin pair, loaded once (about 50 MB of font files).
pub fn fonts() -> Arc<Fonts> {
    static FONTS: OnceLock<Arc<Fonts>> = OnceLock::new();
    Arc::clone(FONTS.get_or_init(|| {
        Arc::new(Fonts::load(&HANAMIN_FONTS).unwrap_or_else(|err| {
            panic!("{err} (the face tests need Debian's fonts-hanazono; `make test` installs it)")
        }))
    }))
}

pub fn card_face() -> Renderer {
    Renderer::new(PageLayout::card_face_default(), fonts()).expect("the stock card face is valid")
}

pub fn envelope() -> Renderer {
    Renderer::new(PageLayout::envelope_default(), fonts()).expect("the stock envelope is valid")
}

/// A complete card face's data with applicant `seed`'s synthetic photo.
pub fn face_data(name: &str, seed: u64) -> PageData {
    PageData::new()
        .with("name", name)
        .with("ssn", "310101199001011234")
        .with("card_number", "M31000086")
        .with("issue_date", "2025年07月")
        .with_photo(cardhub_simulators::photo::id_photo(seed))
}

/// `<target>/faces/`: rendered pages for people to look at.
pub fn output_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is <target>/tmp")
        .join("faces");
    std::fs::create_dir_all(&dir).expect("create <target>/faces");
    dir
}

/// A set of page pixels (x, y).
pub type Mask = std::collections::BTreeSet<(i32, i32)>;

/// The pixels of `page` inside the rectangle that are darker than `page`'s
/// background there by more than `threshold` in some channel.
pub fn ink(page: &RgbImage, background: [u8; 3], x0: i32, y0: i32, x1: i32, y1: i32) -> Mask {
    let mut mask = Mask::new();
    for y in y0.max(0)..y1.min(page.height() as i32) {
        for x in x0.max(0)..x1.min(page.width() as i32) {
            let p = page.get_pixel(x as u32, y as u32).0;
            if p.iter().zip(background).any(|(&c, b)| c.abs_diff(b) > 64) {
                mask.insert((x, y));
            }
        }
    }
    mask
}

/// The pixels a glyph mask marks as ink (by [`ink`]'s threshold for the
/// stock layouts' #111111 on white) when drawn with its pen at (`x`,
/// `baseline`).
pub fn glyph_mask(bitmap: &GlyphBitmap, x: i32, baseline: i32) -> Mask {
    let mut mask = Mask::new();
    for row in 0..bitmap.height as i32 {
        for col in 0..bitmap.width as i32 {
            let c = bitmap.coverage[(row * bitmap.width as i32 + col) as usize];
            // Coverage c darkens white by c * 238 / 255: over 64 from 69 up.
            if c >= 69 {
                mask.insert((x + bitmap.left + col, baseline + bitmap.top + row));
            }
        }
    }
    mask
}

/// Intersection over union of two masks (1 = the same pixels).
pub fn overlap(a: &Mask, b: &Mask) -> f64 {
    let union = a.union(b).count();
    if union == 0 {
        return 1.0;
    }
    a.intersection(b).count() as f64 / union as f64
}
