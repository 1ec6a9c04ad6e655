//! Synthetic ID photos (证件照) for the simulated outside parties: the
//! government portal and the branches send one with every application.
//!
//! [`id_photo`] draws a 358 x 441 head-and-shoulders silhouette on the
//! centre's plain light-blue background and encodes it as a baseline JPEG.
//! Everything that varies (skin, hair and clothes colours, head size and
//! position, hair line, shoulder width, collar) comes from the seed through
//! SplitMix64, so a seed always gives the same bytes and different
//! applicants get different photos. The edges are 4x supersampled so the
//! photo scales like a real one; the flat areas keep it to about 10 KB,
//! made in about 7 ms of CPU (most of it `image`'s JPEG encoder).
//!
//! This is test data, not face synthesis: there are no features to
//! recognise. The photo check and scaling on the hub side are
//! `cardhub_devices::face`.

use image::ExtendedColorType;
use image::codecs::jpeg::JpegEncoder;

/// Width of the centre's ID photos, in pixels.
pub const WIDTH: u32 = 358;
/// Height of the centre's ID photos, in pixels.
pub const HEIGHT: u32 = 441;
/// The plain light-blue background of an ID photo.
pub const BACKGROUND: [u8; 3] = [0x9C, 0xC8, 0xEE];
/// JPEG quality: high enough that the silhouette's edges stay clean, low
/// enough for a photo of a few KB.
const QUALITY: u8 = 80;

/// A deterministic JPEG ID photo for applicant `seed`: 358 x 441, light-blue
/// background, a head-and-shoulders silhouette whose colours and shape
/// follow from the seed.
pub fn id_photo(seed: u64) -> Vec<u8> {
    let sitter = Sitter::from_seed(seed);
    let mut rgb = Vec::with_capacity((WIDTH * HEIGHT * 3) as usize);
    for y in 0..HEIGHT {
        for x in 0..WIDTH {
            let mut sum = [0u32; 3];
            for (sx, sy) in SUBSAMPLES {
                let colour = sitter.colour_at(x as f32 + sx, y as f32 + sy);
                for (total, channel) in sum.iter_mut().zip(colour) {
                    *total += u32::from(channel);
                }
            }
            rgb.extend(sum.map(|total| ((total + 2) / 4) as u8));
        }
    }
    let mut jpeg = Vec::with_capacity(8 * 1024);
    JpegEncoder::new_with_quality(&mut jpeg, QUALITY)
        .encode(&rgb, WIDTH, HEIGHT, ExtendedColorType::Rgb8)
        .expect("encoding an in-memory RGB buffer of the stated size cannot fail");
    jpeg
}

/// Four sample points inside a pixel (a rotated grid, which smooths
/// near-horizontal and near-vertical edges alike).
const SUBSAMPLES: [(f32, f32); 4] = [
    (0.375, 0.125),
    (0.875, 0.375),
    (0.625, 0.875),
    (0.125, 0.625),
];

/// Skin tones to start from (each is varied a little further per seed).
const SKIN: [[u8; 3]; 5] = [
    [0xF1, 0xC2, 0x9F],
    [0xE0, 0xAC, 0x85],
    [0xC6, 0x8E, 0x67],
    [0xF5, 0xD0, 0xB5],
    [0xD8, 0xA0, 0x78],
];
/// Hair: black, dark brown, brown, grey.
const HAIR: [[u8; 3]; 4] = [
    [0x1A, 0x16, 0x14],
    [0x3B, 0x2A, 0x20],
    [0x5E, 0x43, 0x2E],
    [0x9A, 0x98, 0x96],
];
/// Clothes: dark suit, navy, white shirt, grey, maroon, green.
const CLOTHES: [[u8; 3]; 6] = [
    [0x22, 0x25, 0x2B],
    [0x1C, 0x2E, 0x5A],
    [0xEE, 0xEE, 0xEA],
    [0x6B, 0x6E, 0x73],
    [0x6E, 0x1F, 0x2B],
    [0x2F, 0x55, 0x3E],
];

/// An ellipse: centre and radii.
#[derive(Debug, Clone, Copy)]
struct Ellipse {
    cx: f32,
    cy: f32,
    rx: f32,
    ry: f32,
}

impl Ellipse {
    fn contains(&self, x: f32, y: f32) -> bool {
        let dx = (x - self.cx) / self.rx;
        let dy = (y - self.cy) / self.ry;
        dx * dx + dy * dy <= 1.0
    }
}

/// The person in the photo, drawn from the seed.
#[derive(Debug, Clone)]
struct Sitter {
    head: Ellipse,
    hair: Ellipse,
    /// Hair covers the head above this row (the hair line).
    fringe_y: f32,
    /// Hair behind the head reaches down to this row (short or long hair).
    hair_bottom: f32,
    neck_half_width: f32,
    shoulders: Ellipse,
    /// Half-width of the collar's V at the top of the shoulders.
    collar_half_width: f32,
    collar_depth: f32,
    skin: [u8; 3],
    hair_colour: [u8; 3],
    clothes: [u8; 3],
    shirt: [u8; 3],
}

impl Sitter {
    fn from_seed(seed: u64) -> Self {
        let mut rng = SplitMix64(seed);
        let cx = WIDTH as f32 / 2.0 + rng.between(-12.0, 12.0);
        let head = Ellipse {
            cx,
            cy: rng.between(160.0, 182.0),
            rx: rng.between(58.0, 74.0),
            ry: rng.between(78.0, 94.0),
        };
        let hair_grow = rng.between(4.0, 14.0);
        let hair = Ellipse {
            cx: head.cx + rng.between(-3.0, 3.0),
            cy: head.cy - rng.between(4.0, 12.0),
            rx: head.rx + hair_grow,
            ry: head.ry + hair_grow,
        };
        let fringe_y = head.cy - head.ry * rng.between(0.25, 0.6);
        let hair_bottom = head.cy + head.ry * rng.between(-0.1, 0.9);
        let shoulders = Ellipse {
            cx: head.cx + rng.between(-4.0, 4.0),
            cy: HEIGHT as f32 + rng.between(20.0, 60.0),
            rx: rng.between(150.0, 182.0),
            ry: rng.between(150.0, 185.0),
        };
        let skin = rng.pick(&SKIN);
        let skin = rng.vary(skin, 10);
        let hair_colour = rng.pick(&HAIR);
        let hair_colour = rng.vary(hair_colour, 8);
        let clothes = rng.pick(&CLOTHES);
        let clothes = rng.vary(clothes, 12);
        let shirt = if clothes[0] > 0xC0 {
            rng.vary([0x9E, 0xB4, 0xCF], 10)
        } else {
            rng.vary([0xF2, 0xF2, 0xEE], 6)
        };
        Sitter {
            head,
            hair,
            fringe_y,
            hair_bottom,
            neck_half_width: head.rx * rng.between(0.42, 0.55),
            shoulders,
            collar_half_width: rng.between(26.0, 48.0),
            collar_depth: rng.between(40.0, 90.0),
            skin,
            hair_colour,
            clothes,
            shirt,
        }
    }

    /// The colour at a point: the topmost of hair (front), head, hair
    /// (behind), collar, shoulders, neck, background.
    fn colour_at(&self, x: f32, y: f32) -> [u8; 3] {
        let in_hair = self.hair.contains(x, y);
        if in_hair && y < self.fringe_y {
            return self.hair_colour;
        }
        if self.head.contains(x, y) {
            return self.skin;
        }
        if in_hair && y < self.hair_bottom {
            return self.hair_colour;
        }
        if self.shoulders.contains(x, y) {
            // The collar: a V from the top of the shoulders down the middle.
            let top = self.shoulders.cy - self.shoulders.ry;
            let depth = y - top;
            if depth >= 0.0 && depth < self.collar_depth {
                let half = self.collar_half_width * (1.0 - depth / self.collar_depth);
                if (x - self.shoulders.cx).abs() < half {
                    return self.shirt;
                }
            }
            return self.clothes;
        }
        let neck_top = self.head.cy + self.head.ry * 0.6;
        if y > neck_top && (x - self.head.cx).abs() < self.neck_half_width {
            return self.skin;
        }
        BACKGROUND
    }
}

/// SplitMix64: a tiny generator whose output is fixed by its published
/// definition, so a seed's photo never changes with a dependency update.
/// The portal's applicants ([`crate::portal`]) draw from it too.
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting at `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[low, high)`.
    fn between(&mut self, low: f32, high: f32) -> f32 {
        // The top 24 bits: exactly representable in an f32.
        let unit = (self.next() >> 40) as f32 / (1u64 << 24) as f32;
        low + unit * (high - low)
    }

    /// Uniform in `0..n` (the modulo bias is below 2^-40 for the small
    /// `n` used here).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize]
    }

    /// `colour` with each channel moved by up to `spread` either way.
    fn vary(&mut self, colour: [u8; 3], spread: i16) -> [u8; 3] {
        colour.map(|channel| {
            let offset = (self.next() % (2 * spread as u64 + 1)) as i16 - spread;
            (i16::from(channel) + offset).clamp(0, 255) as u8
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(jpeg: &[u8]) -> image::RgbImage {
        image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg)
            .expect("id_photo makes a decodable JPEG")
            .into_rgb8()
    }

    #[test]
    fn decodes_as_a_jpeg_of_the_centres_size() {
        let jpeg = id_photo(1);
        assert!(jpeg.starts_with(&[0xFF, 0xD8, 0xFF]), "no JPEG SOI marker");
        assert!(jpeg.ends_with(&[0xFF, 0xD9]), "no JPEG EOI marker");
        let photo = decode(&jpeg);
        assert_eq!(photo.dimensions(), (WIDTH, HEIGHT));
    }

    #[test]
    fn is_small() {
        for seed in 0..8 {
            let len = id_photo(seed).len();
            assert!(len < 16 * 1024, "seed {seed}: {len} bytes");
        }
    }

    #[test]
    fn same_seed_same_bytes() {
        assert_eq!(id_photo(42), id_photo(42));
        assert_eq!(id_photo(u64::MAX), id_photo(u64::MAX));
    }

    #[test]
    fn different_seeds_differ() {
        let photos: Vec<Vec<u8>> = (0..16).map(id_photo).collect();
        for (i, a) in photos.iter().enumerate() {
            for (j, b) in photos.iter().enumerate().skip(i + 1) {
                assert_ne!(a, b, "seeds {i} and {j} gave the same photo");
            }
        }
        // And visibly so, not by a stray bit: many pixels differ.
        let (a, b) = (decode(&photos[0]), decode(&photos[1]));
        let differing = a
            .pixels()
            .zip(b.pixels())
            .filter(|(p, q)| p.0.iter().zip(q.0).any(|(&u, v)| u.abs_diff(v) > 24))
            .count();
        assert!(differing > 2000, "only {differing} pixels differ");
    }

    #[test]
    fn background_is_light_blue_and_the_sitter_is_in_the_middle() {
        let photo = decode(&id_photo(7));
        for (x, y) in [(2, 2), (WIDTH - 3, 2), (2, 60), (WIDTH - 3, 60)] {
            let p = photo.get_pixel(x, y).0;
            for (channel, expected) in p.iter().zip(BACKGROUND) {
                assert!(channel.abs_diff(expected) <= 6, "({x}, {y}) is {p:?}");
            }
        }
        // Head centre and the bottom middle are not background.
        for (x, y) in [(WIDTH / 2, 175), (WIDTH / 2, HEIGHT - 5)] {
            let p = photo.get_pixel(x, y).0;
            let off = p.iter().zip(BACKGROUND).any(|(&c, e)| c.abs_diff(e) > 30);
            assert!(off, "({x}, {y}) is background {p:?}");
        }
    }
}
