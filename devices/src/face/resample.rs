//! Photo scaling: a separable triangle filter (bilinear, widened to the
//! scale factor when shrinking so every source pixel counts) with
//! fixed-point weights computed once per row and column.
//!
//! `image::imageops::resize` does the same filter in generic `f32` code and
//! costs several times as much as everything else on a card face together;
//! this is the part of the face budget the production line feels. Only
//! 8-bit RGB, which is all a decoded photo is here.

use image::RgbImage;

/// Weights are fixed-point with this many fractional bits: 14 leaves room
/// for a sum of 255 * 2^14 * (taps) in an `i32` with any realistic tap count.
const WEIGHT_BITS: u32 = 14;
const WEIGHT_ONE: i32 = 1 << WEIGHT_BITS;

/// How one axis is resampled: destination pixel `i` is the sum over
/// `k < taps` of source pixel `first[i] + k` times `weights[i * taps + k]`.
/// Every destination pixel has the same number of taps (shorter ones are
/// padded with zero weights), so the inner loops have a fixed length.
struct Axis {
    taps: usize,
    first: Vec<usize>,
    weights: Vec<i32>,
}

impl Axis {
    /// The taps of every destination position when `src` pixels become
    /// `dst`.
    fn new(src: u32, dst: u32) -> Axis {
        let scale = f64::from(src) / f64::from(dst);
        let support = scale.max(1.0);
        let per_pixel: Vec<(usize, Vec<i32>)> = (0..dst)
            .map(|i| {
                let centre = (f64::from(i) + 0.5) * scale;
                let first = (centre - support).floor().max(0.0) as usize;
                let last = ((centre + support).ceil() as usize).min(src as usize);
                let raw: Vec<f64> = (first..last)
                    .map(|j| (1.0 - ((j as f64 + 0.5 - centre) / support).abs()).max(0.0))
                    .collect();
                let total: f64 = raw.iter().sum();
                let mut weights: Vec<i32> = raw
                    .iter()
                    .map(|w| (w / total * f64::from(WEIGHT_ONE)).round() as i32)
                    .collect();
                // Rounding may leave the sum a unit off: put the difference
                // on the heaviest tap so flat colours stay exactly flat.
                let error = WEIGHT_ONE - weights.iter().sum::<i32>();
                if let Some(heaviest) = (0..weights.len()).max_by_key(|&k| weights[k]) {
                    weights[heaviest] += error;
                }
                (first, weights)
            })
            .collect();
        // Every range lies inside 0..src, so the widest one fits too.
        let taps = per_pixel.iter().map(|(_, w)| w.len()).max().unwrap_or(1);
        let mut first = Vec::with_capacity(per_pixel.len());
        let mut weights = Vec::with_capacity(per_pixel.len() * taps);
        for (own_first, own) in per_pixel {
            // Pad on the right, or on the left where that would run past
            // the last source pixel.
            let start = own_first.min(src as usize - taps);
            let lead = own_first - start;
            first.push(start);
            weights.extend(std::iter::repeat_n(0, lead));
            weights.extend_from_slice(&own);
            weights.extend(std::iter::repeat_n(0, taps - lead - own.len()));
        }
        Axis {
            taps,
            first,
            weights,
        }
    }
}

fn to_u8(acc: i32) -> u8 {
    ((acc + (WEIGHT_ONE >> 1)) >> WEIGHT_BITS).clamp(0, 255) as u8
}

/// `src` scaled to `width` x `height` (both at least 1).
pub(crate) fn resize(src: &RgbImage, width: u32, height: u32) -> RgbImage {
    let (src_w, src_h) = src.dimensions();
    let columns = Axis::new(src_w, width);
    let rows = Axis::new(src_h, height);
    let src = src.as_raw();

    // Vertical pass first: whole rows at a time, so the inner loop runs
    // along memory and vectorises; it also leaves the horizontal pass fewer
    // rows when shrinking.
    let row_in = src_w as usize * 3;
    let mut mid = vec![0u8; row_in * height as usize];
    let mut acc = vec![0i32; row_in];
    let row_weights = rows.weights.chunks_exact(rows.taps);
    for ((&first, weights), line) in rows
        .first
        .iter()
        .zip(row_weights)
        .zip(mid.chunks_exact_mut(row_in))
    {
        acc.fill(0);
        for (k, &w) in weights.iter().enumerate() {
            if w == 0 {
                continue;
            }
            let from = (first + k) * row_in;
            for (a, &v) in acc.iter_mut().zip(&src[from..from + row_in]) {
                *a += i32::from(v) * w;
            }
        }
        for (o, &a) in line.iter_mut().zip(&acc) {
            *o = to_u8(a);
        }
    }

    // Horizontal pass: every row to `width` pixels, with the tap count as a
    // constant for the common shrink factors so the inner loop unrolls.
    let row_out = width as usize * 3;
    let mut out = vec![0u8; row_out * height as usize];
    let pass = match columns.taps {
        1 => horizontal::<1>,
        2 => horizontal::<2>,
        3 => horizontal::<3>,
        4 => horizontal::<4>,
        5 => horizontal::<5>,
        6 => horizontal::<6>,
        _ => horizontal_any,
    };
    for (line, dst) in mid.chunks_exact(row_in).zip(out.chunks_exact_mut(row_out)) {
        pass(line, &columns, dst);
    }
    RgbImage::from_raw(width, height, out).expect("the buffer is width * height * 3 bytes")
}

/// One row through `axis` with exactly `N` taps per pixel.
fn horizontal<const N: usize>(line: &[u8], axis: &Axis, dst: &mut [u8]) {
    let weights = axis.weights.chunks_exact(N);
    for ((&first, weights), px) in axis.first.iter().zip(weights).zip(dst.chunks_exact_mut(3)) {
        let source = &line[first * 3..first * 3 + 3 * N];
        let mut acc = [0i32; 3];
        for k in 0..N {
            let w = weights[k];
            acc[0] += i32::from(source[3 * k]) * w;
            acc[1] += i32::from(source[3 * k + 1]) * w;
            acc[2] += i32::from(source[3 * k + 2]) * w;
        }
        px.copy_from_slice(&acc.map(to_u8));
    }
}

/// One row through `axis`, any tap count (strong shrinking).
fn horizontal_any(line: &[u8], axis: &Axis, dst: &mut [u8]) {
    let weights = axis.weights.chunks_exact(axis.taps);
    for ((&first, weights), px) in axis.first.iter().zip(weights).zip(dst.chunks_exact_mut(3)) {
        let source = &line[first * 3..(first + axis.taps) * 3];
        let mut acc = [0i32; 3];
        for (rgb, &w) in source.chunks_exact(3).zip(weights) {
            acc[0] += i32::from(rgb[0]) * w;
            acc[1] += i32::from(rgb[1]) * w;
            acc[2] += i32::from(rgb[2]) * w;
        }
        px.copy_from_slice(&acc.map(to_u8));
    }
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

    #[test]
    fn every_tap_count_sums_to_one() {
        for (src, dst) in [(358, 264), (441, 325), (2400, 264), (3, 7), (1, 5), (5, 1)] {
            let axis = Axis::new(src, dst);
            assert_eq!(axis.first.len(), dst as usize);
            for (i, weights) in axis.weights.chunks_exact(axis.taps).enumerate() {
                assert_eq!(
                    weights.iter().sum::<i32>(),
                    WEIGHT_ONE,
                    "{src} to {dst}, pixel {i}"
                );
                assert!(axis.first[i] + axis.taps <= src as usize);
            }
        }
    }
}
