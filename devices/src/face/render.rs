//! [`Renderer`]: a checked layout with its static parts drawn once, turning
//! a card's [`PageData`] into an RGB page or PNG bytes.
//!
//! `Renderer::new` checks the layout (boxes, sizes, every label's glyphs,
//! every line inside the page) and draws the background, bands, the photo
//! box's fill and the labels into a base page. Each `render` copies the
//! base, lays out every field first (so a refused character or a too-long
//! text costs no drawing), then draws the photo and the fields.

use std::collections::BTreeMap;
use std::sync::Arc;

use image::{ImageFormat, RgbImage};

use super::fonts::Fonts;
use super::layout::{Align, Colour, Overflow, PageLayout, PhotoBox, TextField};
use super::text::{self, LineSpec, TextLayout};
use super::{FaceError, photo};

/// One card's data for one page: text by data key, and the photo.
///
/// Keys the layout does not use are ignored, so the production line can
/// hand the same data to the card face and the envelope renderer; so is a
/// photo given to a layout without a photo box.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageData {
    fields: BTreeMap<String, String>,
    photo: Option<Vec<u8>>,
}

impl PageData {
    /// No fields, no photo.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets field `key` to `value` (builder style).
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.set(key, value);
        self
    }

    /// Sets the photo, the JPEG bytes as received (builder style).
    pub fn with_photo(mut self, jpeg: impl Into<Vec<u8>>) -> Self {
        self.photo = Some(jpeg.into());
        self
    }

    /// Sets field `key` to `value`.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.fields.insert(key.into(), value.into());
    }

    /// Sets the photo.
    pub fn set_photo(&mut self, jpeg: impl Into<Vec<u8>>) {
        self.photo = Some(jpeg.into());
    }

    /// Field `key`'s value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }

    /// The photo's bytes.
    pub fn photo(&self) -> Option<&[u8]> {
        self.photo.as_deref()
    }
}

/// A checked layout ready to draw pages. `Send + Sync`: one renderer is
/// shared by every printer's thread.
#[derive(Debug)]
pub struct Renderer {
    layout: PageLayout,
    fonts: Arc<Fonts>,
    /// Background, bands, photo-box fill and labels, drawn once.
    base: RgbImage,
}

impl Renderer {
    /// Checks `layout` against the fonts and draws its static parts.
    ///
    /// Refused: anything [`PageLayout::validate`] refuses; a label with a
    /// character no font has, or wider than the page; a field or label
    /// whose line (the first font's ascent above the baseline, descent
    /// below) leaves the page; a background image that will not load or is
    /// not exactly the page's size.
    pub fn new(layout: PageLayout, fonts: Arc<Fonts>) -> Result<Renderer, FaceError> {
        layout.validate()?;
        let (ascent, descent) = fonts.line_metrics_per_px();
        let check_line = |item: &str, baseline: u32, size: f32| {
            let top = baseline as f32 - ascent * size;
            let bottom = baseline as f32 - descent * size;
            if top < -0.5 || bottom > layout.height as f32 + 0.5 {
                return Err(FaceError::InvalidLayout {
                    item: item.to_owned(),
                    reason: format!(
                        "at {size} px its line spans rows {top:.0} to {bottom:.0}, \
                         outside the page's 0 to {}",
                        layout.height
                    ),
                });
            }
            Ok(())
        };
        for field in &layout.fields {
            check_line(
                &format!("field `{}`", field.key),
                field.baseline,
                field.size_px,
            )?;
        }

        let mut base = match &layout.background_image {
            None => {
                RgbImage::from_pixel(layout.width, layout.height, image::Rgb(layout.background.0))
            }
            Some(path) => background_image(path, &layout)?,
        };
        for band in &layout.bands {
            fill(
                &mut base,
                band.x,
                band.y,
                band.width,
                band.height,
                band.colour,
            );
        }
        if let Some(PhotoBox {
            x,
            y,
            width,
            height,
            fill: Some(colour),
            ..
        }) = &layout.photo
        {
            fill(&mut base, *x, *y, *width, *height, *colour);
        }
        for label in &layout.labels {
            let item = format!("label `{}`", label.text);
            check_line(&item, label.baseline, label.size_px)?;
            let spec = LineSpec {
                item: &item,
                key: &item,
                x: label.x,
                baseline: label.baseline,
                size_px: label.size_px,
                min_size_px: label.size_px,
                max_width: layout.width - label.x,
                overflow: Overflow::Refuse,
                align: Align::Left,
                letter_spacing_px: 0.0,
                colour: label.colour,
            };
            let laid_out =
                text::layout_line(&fonts, &spec, &label.text).map_err(|err| match err {
                    FaceError::TextTooLong { needed_px, .. } => FaceError::InvalidLayout {
                        item: item.clone(),
                        reason: format!(
                            "it needs {needed_px} px but only {} px are left to the page's edge",
                            layout.width - label.x
                        ),
                    },
                    other => other,
                })?;
            text::draw(&fonts, &laid_out, &mut base);
        }
        Ok(Renderer {
            layout,
            fonts,
            base,
        })
    }

    /// The layout this renderer draws.
    pub fn layout(&self) -> &PageLayout {
        &self.layout
    }

    /// The fonts it draws with.
    pub fn fonts(&self) -> &Arc<Fonts> {
        &self.fonts
    }

    /// Checks that every field the layout draws is present (when required),
    /// has a glyph for every character and fits its width under the field's
    /// overflow rule. Cheap (no drawing): run it before a card is started.
    pub fn check_text(&self, data: &PageData) -> Result<(), FaceError> {
        self.layout_fields(data).map(drop)
    }

    /// [`check_text`](Self::check_text), and the photo checked as a whole
    /// JPEG of an accepted size (its markers are walked, it is not
    /// decoded).
    pub fn check(&self, data: &PageData) -> Result<(), FaceError> {
        self.check_text(data)?;
        if let Some(photo_box) = &self.layout.photo {
            match data.photo() {
                Some(bytes) => photo::check(bytes, photo_box).map(drop)?,
                None if photo_box.required => return Err(FaceError::MissingPhoto),
                None => {}
            }
        }
        Ok(())
    }

    /// Lays out field `key` of the layout with `text`: where every
    /// character goes, which font and glyph draw it, the size after the
    /// overflow rule. `None` when the layout has no field `key` (the first
    /// one is used when several draw the same key).
    pub fn layout_field(&self, key: &str, text: &str) -> Option<Result<TextLayout, FaceError>> {
        let field = self.layout.fields.iter().find(|f| f.key == key)?;
        Some(self.layout_one(field, text))
    }

    /// Draws the page for `data`.
    pub fn render(&self, data: &PageData) -> Result<RgbImage, FaceError> {
        let lines = self.layout_fields(data)?;
        let photo = match &self.layout.photo {
            None => None,
            Some(photo_box) => match data.photo() {
                Some(bytes) => Some((photo_box, photo::fit(bytes, photo_box)?)),
                None if photo_box.required => return Err(FaceError::MissingPhoto),
                None => None,
            },
        };
        let mut page = self.base.clone();
        if let Some((photo_box, (scaled, dx, dy))) = photo {
            blit(&mut page, &scaled, photo_box.x + dx, photo_box.y + dy);
        }
        for line in &lines {
            text::draw(&self.fonts, line, &mut page);
        }
        Ok(page)
    }

    /// Draws the page for `data` and encodes it with [`encode_png`]: the
    /// bytes a printer takes as its colour panel.
    pub fn render_png(&self, data: &PageData) -> Result<Vec<u8>, FaceError> {
        encode_png(&self.render(data)?)
    }

    fn layout_fields(&self, data: &PageData) -> Result<Vec<TextLayout>, FaceError> {
        let mut lines = Vec::with_capacity(self.layout.fields.len());
        for field in &self.layout.fields {
            match data.get(&field.key).filter(|value| !value.is_empty()) {
                Some(value) => lines.push(self.layout_one(field, value)?),
                None if field.required => {
                    return Err(FaceError::MissingField {
                        key: field.key.clone(),
                    });
                }
                None => {}
            }
        }
        Ok(lines)
    }

    fn layout_one(&self, field: &TextField, value: &str) -> Result<TextLayout, FaceError> {
        let item = format!("field `{}`", field.key);
        let spec = LineSpec {
            item: &item,
            key: &field.key,
            x: field.x,
            baseline: field.baseline,
            size_px: field.size_px,
            min_size_px: field.min_size(),
            max_width: field.width_on(self.layout.width),
            overflow: field.overflow,
            align: field.align,
            letter_spacing_px: field.letter_spacing_px,
            colour: field.colour,
        };
        text::layout_lines(&self.fonts, &spec, value, field.max_lines)
    }
}

/// Encodes a page as an 8-bit RGB PNG with the `png` crate's fastest
/// setting: `fdeflate`'s ultra-fast deflate after the Up filter on every
/// row. A card face is mostly flat colour, which the Up filter turns into
/// runs of zeros; trying every filter on every row (the adaptive choice of
/// the slower settings) cost more than the deflate itself and saved little.
pub fn encode_png(page: &RgbImage) -> Result<Vec<u8>, FaceError> {
    let fail = |err: png::EncodingError| FaceError::PngEncode {
        reason: err.to_string(),
    };
    // Flat card faces compress to well under a tenth of the raw size.
    let mut out = Vec::with_capacity(page.as_raw().len() / 8);
    let mut encoder = png::Encoder::new(&mut out, page.width(), page.height());
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fastest);
    let mut writer = encoder.write_header().map_err(fail)?;
    writer.write_image_data(page.as_raw()).map_err(fail)?;
    writer.finish().map_err(fail)?;
    Ok(out)
}

fn background_image(path: &std::path::Path, layout: &PageLayout) -> Result<RgbImage, FaceError> {
    let fail = |reason: String| FaceError::BackgroundImage {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|err| fail(format!("cannot read it: {err}")))?;
    let format = image::guess_format(&bytes)
        .ok()
        .filter(|f| matches!(f, ImageFormat::Png | ImageFormat::Jpeg))
        .ok_or_else(|| fail("it is neither a PNG nor a JPEG".to_owned()))?;
    let mut decoded = image::load_from_memory_with_format(&bytes, format)
        .map_err(|err| fail(format!("it does not decode: {err}")))?;
    if decoded.color().has_alpha() {
        // Transparent parts show the background colour.
        let mut canvas = image::RgbaImage::from_pixel(
            decoded.width(),
            decoded.height(),
            image::Rgba([
                layout.background.0[0],
                layout.background.0[1],
                layout.background.0[2],
                255,
            ]),
        );
        image::imageops::overlay(&mut canvas, &decoded.to_rgba8(), 0, 0);
        decoded = canvas.into();
    }
    let rgb = decoded.into_rgb8();
    if rgb.dimensions() != (layout.width, layout.height) {
        return Err(fail(format!(
            "it is {} x {} px but the page is {} x {}; it is not scaled, make it the page's size",
            rgb.width(),
            rgb.height(),
            layout.width,
            layout.height
        )));
    }
    Ok(rgb)
}

fn fill(page: &mut RgbImage, x: u32, y: u32, width: u32, height: u32, colour: Colour) {
    for row in y..(y + height).min(page.height()) {
        for col in x..(x + width).min(page.width()) {
            page.put_pixel(col, row, image::Rgb(colour.0));
        }
    }
}

/// Copies `photo` into `page` with its top-left corner at (`x`, `y`),
/// clipped to the page.
fn blit(page: &mut RgbImage, photo: &RgbImage, x: u32, y: u32) {
    let page_w = page.width() as usize;
    let cols = (photo.width() as usize).min(page_w.saturating_sub(x as usize));
    let rows = (photo.height() as usize).min((page.height() as usize).saturating_sub(y as usize));
    let src = photo.as_raw();
    let dst: &mut [u8] = page.as_mut();
    for row in 0..rows {
        let s = row * photo.width() as usize * 3;
        let d = ((y as usize + row) * page_w + x as usize) * 3;
        dst[d..d + cols * 3].copy_from_slice(&src[s..s + cols * 3]);
    }
}
