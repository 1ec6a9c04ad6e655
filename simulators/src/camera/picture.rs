//! What the simulated camera's photos look like: [`SimPhoto`] picks a good
//! ID photo (the centre's 358 x 441 JPEG from [`crate::photo::id_photo`])
//! or a wrong one for tests: a JPEG of another size, or a PNG (a camera
//! set to another format). [`Picture`] is the file and what the camera's
//! ObjectInfo says about it.

use cardhub_protocols::ptp::ObjectFormat;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder};

use crate::photo::{BACKGROUND, HEIGHT, WIDTH, id_photo};

/// Which photo the camera takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimPhoto {
    /// The centre's ID photo: 358 x 441 JPEG, light-blue background, a
    /// head-and-shoulders figure; each capture `n` draws seed `seed + n`.
    IdPhoto {
        /// The first capture's seed.
        seed: u64,
    },
    /// A JPEG of another size (a camera whose crop is not set).
    WrongSize {
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
    },
    /// A 358 x 441 PNG, not a JPEG (a camera set to another format); its
    /// ObjectInfo says PNG.
    NotJpeg,
}

impl Default for SimPhoto {
    fn default() -> Self {
        Self::IdPhoto { seed: 1 }
    }
}

/// One photo file as the camera stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Picture {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// Its format in ObjectInfo.
    pub format: ObjectFormat,
    /// Its width in pixels.
    pub width: u32,
    /// Its height in pixels.
    pub height: u32,
}

impl Picture {
    /// The file name's extension on the memory card.
    pub fn extension(&self) -> &'static str {
        if self.format == ObjectFormat::Png {
            "PNG"
        } else {
            "JPG"
        }
    }
}

/// JPEG quality of the wrong-size photos (as the ID photos').
const QUALITY: u8 = 80;

impl SimPhoto {
    /// The photo of capture number `capture` (0, 1, 2...).
    pub fn render(&self, capture: u64) -> Picture {
        match *self {
            Self::IdPhoto { seed } => Picture {
                bytes: id_photo(seed.wrapping_add(capture)),
                format: ObjectFormat::ExifJpeg,
                width: WIDTH,
                height: HEIGHT,
            },
            Self::WrongSize { width, height } => {
                let (width, height) = (width.max(1), height.max(1));
                let mut bytes = Vec::new();
                JpegEncoder::new_with_quality(&mut bytes, QUALITY)
                    .encode(
                        &figure(width, height),
                        width,
                        height,
                        ExtendedColorType::Rgb8,
                    )
                    .expect("encoding an in-memory RGB buffer of the stated size cannot fail");
                Picture {
                    bytes,
                    format: ObjectFormat::ExifJpeg,
                    width,
                    height,
                }
            }
            Self::NotJpeg => {
                let mut bytes = Vec::new();
                PngEncoder::new(&mut bytes)
                    .write_image(
                        &figure(WIDTH, HEIGHT),
                        WIDTH,
                        HEIGHT,
                        ExtendedColorType::Rgb8,
                    )
                    .expect("encoding an in-memory RGB buffer of the stated size cannot fail");
                Picture {
                    bytes,
                    format: ObjectFormat::Png,
                    width: WIDTH,
                    height: HEIGHT,
                }
            }
        }
    }
}

/// A plain light background with a grey head and shoulders, RGB.
fn figure(width: u32, height: u32) -> Vec<u8> {
    let (w, h) = (width as f32, height as f32);
    let mut rgb = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
        for x in 0..width {
            let (fx, fy) = (x as f32 / w - 0.5, y as f32 / h);
            let head = (fx / 0.18).powi(2) + ((fy - 0.38) / 0.2).powi(2) <= 1.0;
            let shoulders = (fx / 0.45).powi(2) + ((fy - 1.0) / 0.3).powi(2) <= 1.0;
            let colour = if head || shoulders {
                [0x55, 0x55, 0x5A]
            } else {
                BACKGROUND
            };
            rgb.extend_from_slice(&colour);
        }
    }
    rgb
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_pictures_are_what_they_claim() {
        let good = SimPhoto::default().render(0);
        assert_eq!(
            (good.width, good.height, good.format),
            (358, 441, ObjectFormat::ExifJpeg)
        );
        assert!(good.bytes.starts_with(&[0xFF, 0xD8]) && good.bytes.ends_with(&[0xFF, 0xD9]));
        assert_ne!(good.bytes, SimPhoto::default().render(1).bytes);

        let wrong = SimPhoto::WrongSize {
            width: 640,
            height: 480,
        }
        .render(0);
        let decoded = image::load_from_memory(&wrong.bytes).expect("a JPEG");
        assert_eq!((decoded.width(), decoded.height()), (640, 480));

        let png = SimPhoto::NotJpeg.render(0);
        assert!(png.bytes.starts_with(b"\x89PNG"));
        assert_eq!((png.format, png.extension()), (ObjectFormat::Png, "PNG"));
    }
}
