//! One line of text laid out on a page: each character resolved to a font
//! and glyph, its pen position, and the size after the field's overflow
//! rule; and glyph masks blended into an RGB buffer.
//!
//! Pure arithmetic over [`Fonts`]; the page, the photo and the layout's
//! order of drawing are `render`'s.

use image::RgbImage;

use super::fonts::{Fonts, GlyphRef, SIZE_STEPS_PER_PX, quantise_size};
use super::layout::{Align, Colour, Overflow};
use super::{CodePoint, FaceError};

/// A character placed on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlacedGlyph {
    /// The character.
    pub character: char,
    /// The font (index in the fallback list) and glyph drawn for it.
    pub glyph: GlyphRef,
    /// The pen position: left end of the glyph's advance, in page pixels.
    pub x: i32,
    /// The baseline, in page pixels.
    pub baseline: i32,
}

/// A line of text laid out: the size it is drawn at and where each
/// character goes.
#[derive(Debug, Clone, PartialEq)]
pub struct TextLayout {
    /// The size drawn at: the field's `size_px`, or smaller when the text
    /// was shrunk to fit (a multiple of a quarter pixel).
    pub size_px: f32,
    /// The text's advance width at that size, in pixels.
    pub width_px: f32,
    /// Every character in order (spaces included).
    pub glyphs: Vec<PlacedGlyph>,
    /// The colour to draw in.
    pub colour: Colour,
}

/// What a line of text is to become: the part of a label or field that
/// layout needs.
pub(crate) struct LineSpec<'a> {
    /// How errors name it: `field \`name\`` or `label \`姓名\``.
    pub(crate) item: &'a str,
    /// The data key for [`FaceError::TextTooLong`].
    pub(crate) key: &'a str,
    pub(crate) x: u32,
    pub(crate) baseline: u32,
    pub(crate) size_px: f32,
    pub(crate) min_size_px: f32,
    pub(crate) max_width: u32,
    pub(crate) overflow: Overflow,
    pub(crate) align: Align,
    pub(crate) letter_spacing_px: f32,
    pub(crate) colour: Colour,
}

/// Resolves every character of `text` to a glyph: the first font that has
/// it; a control character or one no font has is refused naming it.
pub(crate) fn resolve(
    fonts: &Fonts,
    item: &str,
    text: &str,
) -> Result<Vec<(char, GlyphRef)>, FaceError> {
    text.chars()
        .map(|character| {
            if character.is_control() {
                return Err(FaceError::ControlCharacter {
                    field: item.to_owned(),
                    code_point: CodePoint(character),
                });
            }
            fonts
                .lookup(character)
                .map(|glyph| (character, glyph))
                .ok_or_else(|| FaceError::MissingGlyph {
                    field: item.to_owned(),
                    character,
                    code_point: CodePoint(character),
                })
        })
        .collect()
}

/// Lays out one line: resolves glyphs, applies the overflow rule, places
/// every pen position (rounded to whole pixels, so cached masks line up).
pub(crate) fn layout_line(
    fonts: &Fonts,
    spec: &LineSpec<'_>,
    text: &str,
) -> Result<TextLayout, FaceError> {
    let resolved = resolve(fonts, spec.item, text)?;
    // Width is linear in size: advances and kerning scale with it, and so
    // does the letter spacing (given at size_px).
    let mut advance_per_px = 0.0f32;
    for (i, &(_, glyph)) in resolved.iter().enumerate() {
        advance_per_px += fonts.advance_per_px(glyph);
        if let Some(&(_, next)) = resolved.get(i + 1) {
            advance_per_px += fonts.kern_per_px(glyph, next);
        }
    }
    let gaps = resolved.len().saturating_sub(1) as f32;
    let width_per_px = advance_per_px + gaps * spec.letter_spacing_px / spec.size_px;
    let width_at = |size: f32| width_per_px * size;
    let max_width = spec.max_width as f32;

    let mut size = quantised(spec.size_px);
    if width_at(size) > max_width {
        let too_long = |size: f32| FaceError::TextTooLong {
            key: spec.key.to_owned(),
            chars: resolved.len(),
            needed_px: width_at(size).ceil() as u32,
            size_px: size,
            max_width_px: spec.max_width,
        };
        match spec.overflow {
            Overflow::Refuse => return Err(too_long(size)),
            Overflow::Shrink => {
                // The largest quarter-pixel size that fits.
                let fitting =
                    (max_width / width_per_px * SIZE_STEPS_PER_PX).floor() / SIZE_STEPS_PER_PX;
                let min = quantised(spec.min_size_px);
                if fitting < min {
                    return Err(too_long(min));
                }
                size = fitting;
            }
        }
    }

    let width = width_at(size);
    let start = spec.x as f32
        + match spec.align {
            Align::Left => 0.0,
            Align::Centre => (max_width - width) / 2.0,
            Align::Right => max_width - width,
        };
    let spacing = spec.letter_spacing_px * size / spec.size_px;
    let mut pen = start;
    let mut glyphs = Vec::with_capacity(resolved.len());
    for (i, &(character, glyph)) in resolved.iter().enumerate() {
        glyphs.push(PlacedGlyph {
            character,
            glyph,
            x: pen.round() as i32,
            baseline: spec.baseline as i32,
        });
        pen += fonts.advance_per_px(glyph) * size + spacing;
        if let Some(&(_, next)) = resolved.get(i + 1) {
            pen += fonts.kern_per_px(glyph, next) * size;
        }
    }
    Ok(TextLayout {
        size_px: size,
        width_px: width,
        glyphs,
        colour: spec.colour,
    })
}

/// Draws a laid-out line into `image`, clipped to it.
pub(crate) fn draw(fonts: &Fonts, layout: &TextLayout, image: &mut RgbImage) {
    for placed in &layout.glyphs {
        let Some(bitmap) =
            fonts.rasterise(placed.glyph.font, placed.glyph.glyph_id, layout.size_px)
        else {
            continue;
        };
        blend_mask(
            image,
            placed.x + bitmap.left,
            placed.baseline + bitmap.top,
            bitmap.width,
            bitmap.height,
            &bitmap.coverage,
            layout.colour,
        );
    }
}

/// Blends a coverage mask in `colour` into `image` with its top-left corner
/// at (`left`, `top`); what falls outside the image is dropped.
pub(crate) fn blend_mask(
    image: &mut RgbImage,
    left: i32,
    top: i32,
    width: u32,
    height: u32,
    coverage: &[u8],
    colour: Colour,
) {
    let (img_w, img_h) = (image.width() as i32, image.height() as i32);
    let x0 = left.max(0);
    let x1 = (left + width as i32).min(img_w);
    let y0 = top.max(0);
    let y1 = (top + height as i32).min(img_h);
    if x0 >= x1 || y0 >= y1 {
        return;
    }
    let [r, g, b] = colour.0.map(u32::from);
    let buffer: &mut [u8] = image.as_mut();
    for y in y0..y1 {
        let mask_row = (y - top) as usize * width as usize;
        let row = y as usize * img_w as usize * 3;
        for x in x0..x1 {
            let a = u32::from(coverage[mask_row + (x - left) as usize]);
            if a == 0 {
                continue;
            }
            let px = row + x as usize * 3;
            let inv = 255 - a;
            let mix = |dst: u8, src: u32| ((u32::from(dst) * inv + src * a + 127) / 255) as u8;
            buffer[px] = mix(buffer[px], r);
            buffer[px + 1] = mix(buffer[px + 1], g);
            buffer[px + 2] = mix(buffer[px + 2], b);
        }
    }
}

fn quantised(size: f32) -> f32 {
    quantise_size(size) as f32 / SIZE_STEPS_PER_PX
}
