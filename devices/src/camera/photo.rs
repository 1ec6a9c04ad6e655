//! [`PhotoRules`]: the centre's check of an applicant's photo as it comes
//! off the camera, before it is stored: a JPEG (start-of-image and
//! end-of-image markers, the size read from the start-of-frame marker),
//! exactly the configured width and height (358 x 441 by default, the
//! GA 461-style ID photo), and a byte size inside the configured window.
//! A refusal is a [`PhotoRefusal`] naming the rule broken
//! ([`PhotoRefusal::rule`], the config key) and what to do.
//!
//! This reads markers only, it does not decode: decoding, scaling and
//! placing the photo on a card face is `crate::face`. The background and
//! quality rules the reference leaves to config are not checked here.

use serde::Deserialize;

/// What the centre accepts, from the branch's configuration
/// (`[camera.photo]`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PhotoRules {
    /// Width in pixels, exactly (358).
    pub width: u32,
    /// Height in pixels, exactly (441).
    pub height: u32,
    /// The smallest file accepted, in bytes (5000): a 358 x 441 portrait
    /// on a plain background below this is over-compressed (the
    /// simulator's flat drawings weigh 8.8-12 KB at quality 80).
    pub min_bytes: usize,
    /// The largest file accepted, in bytes (60000): what the card
    /// management system takes for a photo.
    pub max_bytes: usize,
}

impl Default for PhotoRules {
    fn default() -> Self {
        Self {
            width: 358,
            height: 441,
            min_bytes: 5_000,
            max_bytes: 60_000,
        }
    }
}

/// What the check found in an accepted photo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhotoFacts {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Size in bytes.
    pub bytes: usize,
}

/// Why a photo is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PhotoRefusal {
    /// Rule `jpeg`: it does not start like a JPEG.
    #[error(
        "photo refused (rule jpeg): it is not a JPEG (it starts {magic}); set the camera to JPEG and take the photo again"
    )]
    NotJpeg {
        /// Its first bytes in hex.
        magic: String,
    },
    /// Rule `jpeg`: it starts like one but its markers are broken or it is
    /// cut short.
    #[error("photo refused (rule jpeg): the JPEG is damaged: {reason}; take the photo again")]
    Damaged {
        /// What is wrong.
        reason: String,
    },
    /// Rule `width`/`height`.
    #[error(
        "photo refused (rule width/height): it is {width} x {height} px, the centre accepts exactly \
         {expected_width} x {expected_height}; set the camera's crop or image size and take the photo again"
    )]
    WrongSize {
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
        /// The width required.
        expected_width: u32,
        /// The height required.
        expected_height: u32,
    },
    /// Rule `min_bytes`.
    #[error(
        "photo refused (rule min_bytes): {bytes} bytes, the centre accepts at least {min_bytes}; \
         raise the camera's JPEG quality or the light, and take the photo again"
    )]
    TooSmall {
        /// Its size.
        bytes: usize,
        /// The smallest accepted.
        min_bytes: usize,
    },
    /// Rule `max_bytes`.
    #[error(
        "photo refused (rule max_bytes): {bytes} bytes, the centre accepts at most {max_bytes}; \
         lower the camera's JPEG quality and take the photo again"
    )]
    TooLarge {
        /// Its size.
        bytes: usize,
        /// The largest accepted.
        max_bytes: usize,
    },
}

impl PhotoRefusal {
    /// The rule broken, as its config key (`jpeg` has none: it is always
    /// on).
    pub fn rule(&self) -> &'static str {
        match self {
            Self::NotJpeg { .. } | Self::Damaged { .. } => "jpeg",
            Self::WrongSize { .. } => "width/height",
            Self::TooSmall { .. } => "min_bytes",
            Self::TooLarge { .. } => "max_bytes",
        }
    }
}

impl PhotoRules {
    /// Checks `photo` against the rules, in order: JPEG, size in pixels,
    /// size in bytes.
    pub fn check(&self, photo: &[u8]) -> Result<PhotoFacts, PhotoRefusal> {
        let (width, height) = jpeg_size(photo)?;
        if (width, height) != (self.width, self.height) {
            return Err(PhotoRefusal::WrongSize {
                width,
                height,
                expected_width: self.width,
                expected_height: self.height,
            });
        }
        let bytes = photo.len();
        if bytes < self.min_bytes {
            return Err(PhotoRefusal::TooSmall {
                bytes,
                min_bytes: self.min_bytes,
            });
        }
        if bytes > self.max_bytes {
            return Err(PhotoRefusal::TooLarge {
                bytes,
                max_bytes: self.max_bytes,
            });
        }
        Ok(PhotoFacts {
            width,
            height,
            bytes,
        })
    }
}

/// SOI, the segments up to the first frame header (SOFn) and its size,
/// and EOI at the end.
fn jpeg_size(bytes: &[u8]) -> Result<(u32, u32), PhotoRefusal> {
    if !bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        let magic: String = bytes.iter().take(8).map(|b| format!("{b:02X}")).collect();
        return Err(PhotoRefusal::NotJpeg {
            magic: if magic.is_empty() {
                "with nothing: it is empty".to_owned()
            } else {
                magic
            },
        });
    }
    let damaged = |reason: String| PhotoRefusal::Damaged { reason };
    if !bytes.ends_with(&[0xFF, 0xD9]) {
        return Err(damaged(format!(
            "it does not end with the end-of-image marker (cut short at {} bytes?)",
            bytes.len()
        )));
    }
    let mut pos = 2;
    loop {
        let marker = match bytes.get(pos..pos + 2) {
            Some(&[0xFF, m]) => m,
            Some(&[b, _]) => {
                return Err(damaged(format!(
                    "byte {pos} is {b:02X} where a marker should start"
                )));
            }
            _ => return Err(damaged("it ends before its frame header".to_owned())),
        };
        match marker {
            // A fill byte before the marker.
            0xFF => {
                pos += 1;
                continue;
            }
            // Markers without a length: TEM and the restart markers.
            0x01 | 0xD0..=0xD7 => {
                pos += 2;
                continue;
            }
            _ => {}
        }
        if matches!(marker, 0xD9 | 0xDA) {
            return Err(damaged(
                "it has no frame header before its image data".to_owned(),
            ));
        }
        let length = match bytes.get(pos + 2..pos + 4) {
            Some(&[hi, lo]) => usize::from(u16::from_be_bytes([hi, lo])),
            _ => return Err(damaged("it ends inside a segment header".to_owned())),
        };
        if length < 2 {
            return Err(damaged(format!(
                "segment FF{marker:02X} at byte {pos} has length {length}"
            )));
        }
        let segment = bytes.get(pos + 4..pos + 2 + length).ok_or_else(|| {
            damaged(format!(
                "segment FF{marker:02X} at byte {pos} runs past the end"
            ))
        })?;
        if is_start_of_frame(marker) {
            return match segment {
                &[_precision, h1, h0, w1, w0, ..] => {
                    let height = u32::from(u16::from_be_bytes([h1, h0]));
                    let width = u32::from(u16::from_be_bytes([w1, w0]));
                    if width == 0 || height == 0 {
                        Err(damaged(format!(
                            "its frame header gives {width} x {height} px"
                        )))
                    } else {
                        Ok((width, height))
                    }
                }
                _ => Err(damaged("its frame header is too short".to_owned())),
            };
        }
        pos += 2 + length;
    }
}

/// SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
fn is_start_of_frame(marker: u8) -> bool {
    matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal JPEG skeleton: SOI, an APP0 segment, SOF0 of the size,
    /// SOS with one byte of data, EOI.
    fn skeleton(width: u16, height: u16, pad: usize) -> Vec<u8> {
        let mut j = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00];
        j.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x0B, 8]);
        j.extend_from_slice(&height.to_be_bytes());
        j.extend_from_slice(&width.to_be_bytes());
        j.extend_from_slice(&[1, 1, 0x11, 0]);
        j.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 1, 1, 0, 0, 0x3F, 0]);
        j.extend(std::iter::repeat_n(0x55, pad));
        j.extend_from_slice(&[0xFF, 0xD9]);
        j
    }

    fn rules() -> PhotoRules {
        PhotoRules {
            min_bytes: 100,
            max_bytes: 1000,
            ..PhotoRules::default()
        }
    }

    #[test]
    fn a_photo_of_the_right_size_and_weight_is_accepted() {
        let photo = skeleton(358, 441, 200);
        assert_eq!(
            rules().check(&photo),
            Ok(PhotoFacts {
                width: 358,
                height: 441,
                bytes: photo.len()
            })
        );
    }

    #[test]
    fn each_rule_is_named_in_its_refusal() {
        let refusal = |photo: &[u8]| rules().check(photo).expect_err("refused");
        let png = b"\x89PNG\r\n\x1a\n....";
        assert_eq!(refusal(png).rule(), "jpeg");
        assert!(refusal(png).to_string().contains("89504E470D0A1A0A"));
        assert_eq!(refusal(b"").rule(), "jpeg");
        let cut = skeleton(358, 441, 200);
        assert!(matches!(
            refusal(&cut[..cut.len() - 1]),
            PhotoRefusal::Damaged { .. }
        ));
        assert_eq!(
            refusal(&skeleton(640, 480, 200)),
            PhotoRefusal::WrongSize {
                width: 640,
                height: 480,
                expected_width: 358,
                expected_height: 441
            }
        );
        assert_eq!(refusal(&skeleton(358, 441, 0)).rule(), "min_bytes");
        assert_eq!(refusal(&skeleton(358, 441, 2000)).rule(), "max_bytes");
    }

    #[test]
    fn broken_markers_are_damage_not_panics() {
        for bad in [
            &[0xFF, 0xD8, 0xFF, 0xD9][..],
            &[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x01, 0xFF, 0xD9],
            &[0xFF, 0xD8, 0xFF, 0xE0, 0x7F, 0xFF, 0xFF, 0xD9],
            &[0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x04, 0x08, 0x00, 0xFF, 0xD9],
            &[0xFF, 0xD8, 0xFF, 0x00, 0x12, 0xFF, 0xD9],
        ] {
            assert!(
                matches!(rules().check(bad), Err(PhotoRefusal::Damaged { .. })),
                "{bad:02X?}"
            );
        }
    }

    #[test]
    fn rules_read_from_config_and_reject_unknown_keys() {
        let r: PhotoRules = toml::from_str("min_bytes = 1\nmax_bytes = 2").expect("valid");
        assert_eq!(
            (r.width, r.height, r.min_bytes, r.max_bytes),
            (358, 441, 1, 2)
        );
        assert!(toml::from_str::<PhotoRules>("colour = 1").is_err());
    }
}
