//! Photo scaling: a triangle filter (bilinear, widened to the scale factor
//! when shrinking so every source pixel counts), through
//! `fast_image_resize`'s SIMD convolution (AVX2 or SSE4.1 where the CPU
//! has them, chosen at run time).
//!
//! `image::imageops::resize` does the same filter in generic `f32` code and
//! costs several times as much as everything else on a card face together;
//! this is the part of the face budget the production line feels. Only
//! 8-bit RGB, which is all a decoded photo is here. Each thread keeps its
//! own resizer, so its scratch buffers are allocated once, not per photo.

use std::cell::RefCell;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;

thread_local! {
    static RESIZER: RefCell<Resizer> = RefCell::new(Resizer::new());
}

/// `src` scaled to `width` x `height` (both at least 1).
pub(crate) fn resize(src: &RgbImage, width: u32, height: u32) -> RgbImage {
    let (src_w, src_h) = src.dimensions();
    let source = ImageRef::new(src_w, src_h, src.as_raw(), PixelType::U8x3)
        .expect("an RgbImage holds width * height * 3 bytes");
    let mut scaled = Image::new(width.max(1), height.max(1), PixelType::U8x3);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
    RESIZER.with_borrow_mut(|resizer| {
        resizer
            .resize(&source, &mut scaled, &options)
            .expect("source and destination are both non-empty 8-bit RGB")
    });
    RgbImage::from_raw(scaled.width(), scaled.height(), scaled.into_vec())
        .expect("the buffer is width * height * 3 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::imageops::{self, FilterType};

    fn photo_like(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let r = ((x * 255) / w) as u8;
            let g = ((y * 255) / h) as u8;
            let b = if (x / 17 + y / 23) % 2 == 0 { 40 } else { 220 };
            image::Rgb([r, g, b])
        })
    }

    #[test]
    fn flat_colours_stay_exactly_flat() {
        let flat = RgbImage::from_pixel(358, 441, image::Rgb([0x9C, 0xC8, 0xEE]));
        for (w, h) in [(264, 325), (100, 50), (500, 700), (1, 1)] {
            let out = resize(&flat, w, h);
            assert_eq!(out.dimensions(), (w, h));
            assert!(out.pixels().all(|p| p.0 == [0x9C, 0xC8, 0xEE]), "{w} x {h}");
        }
    }

    #[test]
    fn agrees_with_image_s_triangle_filter() {
        // Shrinking a little (the centre's photos), by half, growing, and
        // shrinking a lot (past the unrolled tap counts).
        for ((sw, sh), (w, h)) in [
            ((358, 441), (264, 325)),
            ((358, 441), (179, 220)),
            ((358, 441), (400, 500)),
            ((1200, 1500), (264, 325)),
            ((3, 2), (7, 5)),
        ] {
            let src = photo_like(sw, sh);
            let ours = resize(&src, w, h);
            let theirs = imageops::resize(&src, w, h, FilterType::Triangle);
            let worst = ours
                .as_raw()
                .iter()
                .zip(theirs.as_raw())
                .map(|(a, b)| a.abs_diff(*b))
                .max()
                .unwrap_or(0);
            // Edges of the checkerboard may differ by a rounding step or
            // two; anything more is a different filter.
            assert!(
                worst <= 3,
                "{sw} x {sh} to {w} x {h}: differs by up to {worst}"
            );
        }
    }
}
