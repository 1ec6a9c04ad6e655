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
#[derive(Clone, Copy)]
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

/// Lays out `text` on one line or, when it does not fit there even at the
/// smallest size and `max_lines` allows, broken at spaces into the fewest
/// lines (up to `max_lines`) whose longest fits: every line at one size,
/// the block centred on the spec's baseline, one line-height (1.15 em)
/// apart. A text with no space to break at, or too long for `max_lines`
/// lines, is refused as on one line.
pub(crate) fn layout_lines(
    fonts: &Fonts,
    spec: &LineSpec<'_>,
    text: &str,
    max_lines: u8,
) -> Result<TextLayout, FaceError> {
    let one = layout_line(fonts, spec, text);
    let too_long = match one {
        Err(e @ FaceError::TextTooLong { .. }) if max_lines > 1 => e,
        other => return other,
    };
    let words: Vec<&str> = text.split(' ').filter(|w| !w.is_empty()).collect();
    for lines in 2..=usize::from(max_lines).min(words.len()) {
        // The break points whose lines all fit, at the largest common size.
        let mut best: Option<(f32, Vec<String>)> = None;
        for parts in splits(&words, lines) {
            let Ok(laid) = parts
                .iter()
                .map(|part| layout_line(fonts, spec, part))
                .collect::<Result<Vec<_>, _>>()
            else {
                continue;
            };
            let size = laid.iter().map(|l| l.size_px).fold(spec.size_px, f32::min);
            if best.as_ref().is_none_or(|(s, _)| size > *s) {
                best = Some((size, parts));
            }
        }
        let Some((size, parts)) = best else {
            continue;
        };
        let line_height = (size * 1.15).round();
        let first = spec.baseline as f32 - line_height * (lines - 1) as f32 / 2.0;
        let mut block = TextLayout {
            size_px: size,
            width_px: 0.0,
            glyphs: Vec::new(),
            colour: spec.colour,
        };
        for (i, part) in parts.iter().enumerate() {
            let line = LineSpec {
                baseline: (first + line_height * i as f32).round().max(0.0) as u32,
                size_px: size,
                min_size_px: size,
                overflow: Overflow::Refuse,
                letter_spacing_px: spec.letter_spacing_px * size / spec.size_px,
                ..*spec
            };
            let laid = layout_line(fonts, &line, part)?;
            block.width_px = block.width_px.max(laid.width_px);
            block.glyphs.extend(laid.glyphs);
        }
        return Ok(block);
    }
    Err(too_long)
}

/// Every way to cut `words` into `lines` consecutive non-empty groups,
/// each joined by spaces (names have a handful of words: at most a few
/// hundred ways).
fn splits(words: &[&str], lines: usize) -> Vec<Vec<String>> {
    if lines == 1 {
        return vec![vec![words.join(" ")]];
    }
    let mut out = Vec::new();
    for cut in 1..=words.len().saturating_sub(lines - 1) {
        for mut rest in splits(&words[cut..], lines - 1) {
            rest.insert(0, words[..cut].join(" "));
            out.push(rest);
        }
    }
    out
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
