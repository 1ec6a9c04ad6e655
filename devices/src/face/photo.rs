//! The applicant's photo: checked as a JPEG, decoded, scaled into the
//! layout's photo box.
//!
//! The check walks the JPEG's marker segments itself (start of image, the
//! frame header with the size, every scan's entropy-coded data, the end of
//! image marker), so a cut-short file is refused even where a decoder would
//! quietly fill the missing rows with grey. Decoding is `image`'s JPEG
//! decoder; scaling is `resample`'s triangle filter. Placement on the page
//! is `render`'s.

use image::{ImageFormat, RgbImage};

use super::layout::PhotoBox;
use super::{FaceError, resample};

/// What the walk over a JPEG's markers found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JpegInfo {
    pub(crate) width: u32,
    pub(crate) height: u32,
}

/// Checks that `bytes` is a whole JPEG whose size the photo box accepts,
/// without decoding it.
pub(crate) fn check(bytes: &[u8], photo_box: &PhotoBox) -> Result<JpegInfo, FaceError> {
    let info = walk_markers(bytes)?;
    let accepted = (photo_box.min_width..=photo_box.max_width).contains(&info.width)
        && (photo_box.min_height..=photo_box.max_height).contains(&info.height);
    if !accepted {
        return Err(FaceError::PhotoSize {
            width: info.width,
            height: info.height,
            min_width: photo_box.min_width,
            min_height: photo_box.min_height,
            max_width: photo_box.max_width,
            max_height: photo_box.max_height,
        });
    }
    Ok(info)
}

/// Checks, decodes and scales the photo to fit the box keeping its aspect
/// ratio. Returns the scaled photo and its offset inside the box (it is
/// centred).
pub(crate) fn fit(bytes: &[u8], photo_box: &PhotoBox) -> Result<(RgbImage, u32, u32), FaceError> {
    let info = check(bytes, photo_box)?;
    let decoded = image::load_from_memory_with_format(bytes, ImageFormat::Jpeg)
        .map_err(|err| FaceError::PhotoCorrupt {
            reason: err.to_string(),
        })?
        .into_rgb8();
    if decoded.dimensions() != (info.width, info.height) {
        return Err(FaceError::PhotoCorrupt {
            reason: format!(
                "its header says {} x {} px but it decodes to {} x {}",
                info.width,
                info.height,
                decoded.width(),
                decoded.height()
            ),
        });
    }
    let (width, height) = fitted_size(info.width, info.height, photo_box.width, photo_box.height);
    let scaled = if (width, height) == decoded.dimensions() {
        decoded
    } else {
        resample::resize(&decoded, width, height)
    };
    Ok((
        scaled,
        (photo_box.width - width) / 2,
        (photo_box.height - height) / 2,
    ))
}

/// The largest size with the photo's aspect ratio inside the box (at least
/// 1 x 1).
pub(crate) fn fitted_size(photo_w: u32, photo_h: u32, box_w: u32, box_h: u32) -> (u32, u32) {
    // Compare w/h ratios exactly in integers: photo_w/photo_h >= box_w/box_h
    // means the width is the limit.
    if u64::from(photo_w) * u64::from(box_h) >= u64::from(box_w) * u64::from(photo_h) {
        let h =
            (u64::from(photo_h) * u64::from(box_w) + u64::from(photo_w) / 2) / u64::from(photo_w);
        (box_w, (h as u32).clamp(1, box_h))
    } else {
        let w =
            (u64::from(photo_w) * u64::from(box_h) + u64::from(photo_h) / 2) / u64::from(photo_h);
        ((w as u32).clamp(1, box_w), box_h)
    }
}

/// Walks the marker segments from SOI to EOI; returns the frame size.
fn walk_markers(bytes: &[u8]) -> Result<JpegInfo, FaceError> {
    if !bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        let magic: String = bytes.iter().take(8).map(|b| format!("{b:02X}")).collect();
        return Err(FaceError::PhotoNotJpeg {
            magic: if magic.is_empty() {
                "nothing: it is empty".to_owned()
            } else {
                magic
            },
        });
    }
    let corrupt = |reason: String| FaceError::PhotoCorrupt { reason };
    let truncated = || {
        corrupt(format!(
            "it is cut short: {} bytes and no end-of-image marker",
            bytes.len()
        ))
    };
    let mut size = None;
    let mut pos = 2;
    loop {
        match bytes.get(pos) {
            None => return Err(truncated()),
            Some(0xFF) => {}
            Some(other) => {
                return Err(corrupt(format!(
                    "byte {pos} is {other:02X} where a marker should start"
                )));
            }
        }
        while bytes.get(pos) == Some(&0xFF) {
            pos += 1;
        }
        let marker = *bytes.get(pos).ok_or_else(truncated)?;
        pos += 1;
        match marker {
            0xD9 => break,
            0x01 | 0xD0..=0xD7 => continue,
            0x00 | 0xD8 => {
                return Err(corrupt(format!(
                    "unexpected marker FF{marker:02X} at byte {}",
                    pos - 2
                )));
            }
            _ => {}
        }
        let length = match bytes.get(pos..pos + 2) {
            Some(&[hi, lo]) => usize::from(u16::from_be_bytes([hi, lo])),
            _ => return Err(truncated()),
        };
        if length < 2 {
            return Err(corrupt(format!(
                "segment FF{marker:02X} at byte {} has length {length}",
                pos - 2
            )));
        }
        let segment = bytes.get(pos + 2..pos + length).ok_or_else(truncated)?;
        pos += length;
        if is_start_of_frame(marker) {
            match segment {
                &[_precision, h1, h0, w1, w0, ..] => {
                    let height = u32::from(u16::from_be_bytes([h1, h0]));
                    let width = u32::from(u16::from_be_bytes([w1, w0]));
                    if width == 0 || height == 0 {
                        return Err(corrupt(format!(
                            "its frame header gives a size of {width} x {height}"
                        )));
                    }
                    size = Some(JpegInfo { width, height });
                }
                _ => return Err(corrupt("its frame header is too short".to_owned())),
            }
        }
        if marker == 0xDA {
            if size.is_none() {
                return Err(corrupt("a scan starts before the frame header".to_owned()));
            }
            pos = skip_entropy_coded(bytes, pos).ok_or_else(truncated)?;
        }
    }
    size.ok_or_else(|| corrupt("it has no frame header".to_owned()))
}

/// SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
fn is_start_of_frame(marker: u8) -> bool {
    matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC)
}

/// The position of the marker that ends the entropy-coded data starting at
/// `pos` (stuffed `FF 00` and restart markers are part of the data); `None`
/// when the data runs to the end of the file.
fn skip_entropy_coded(bytes: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let offset = bytes.get(pos..)?.iter().position(|&b| b == 0xFF)?;
        pos += offset;
        match *bytes.get(pos + 1)? {
            0x00 | 0xD0..=0xD7 => pos += 2,
            0xFF => pos += 1,
            _ => return Some(pos),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitted_size_keeps_the_aspect_and_fills_one_side() {
        // The centre's photo into a box of nearly its own shape.
        assert_eq!(fitted_size(358, 441, 264, 325), (264, 325));
        // Wide photo: width-limited, centred vertically.
        assert_eq!(fitted_size(800, 400, 264, 325), (264, 132));
        // Tall photo: height-limited.
        assert_eq!(fitted_size(100, 1000, 264, 325), (33, 325));
        // Never zero.
        assert_eq!(fitted_size(10_000, 1, 100, 100), (100, 1));
    }

    #[test]
    fn entropy_data_skips_stuffing_and_restarts() {
        let data = [0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD3, 0x56, 0xFF, 0xFF, 0xD9];
        assert_eq!(skip_entropy_coded(&data, 0), Some(8));
        assert_eq!(skip_entropy_coded(&data[..7], 0), None);
    }
}
