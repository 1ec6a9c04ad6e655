//! Fonts in fallback order, glyph look-up, and rasterised glyphs behind a
//! bounded cache.
//!
//! A character is drawn with the first font in the list that has a glyph
//! for it (a real glyph id, not 0, `.notdef`); one that no font has is
//! refused by the caller with [`FaceError::MissingGlyph`]. With the HanaMin
//! pair, HanaMinA holds the BMP (CJK unified ideographs, extension A, Latin,
//! punctuation) and 3,650 of the commonest supplementary-plane ideographs
//! (JIS X 0213's, 𠮷 U+20BB7 and 𪚥 U+2A6A5 among them); HanaMinB holds
//! the whole supplementary ideographic plane (extensions B to F), so the
//! rest of extension B and later falls back to it.
//!
//! Outlines are rasterised by `ab_glyph`; this module keeps the coverage
//! masks in a [`TwoGenerationCache`] keyed by font, glyph id and size, and
//! knows nothing of pages (that is `render`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use ab_glyph::{Font, FontVec, GlyphId, PxScale, point};
use serde::{Deserialize, Serialize};

use super::FaceError;
use super::cache::TwoGenerationCache;

/// The HanaMin pair as Debian's `fonts-hanazono` installs it, in fallback
/// order.
pub const HANAMIN_FONTS: [&str; 2] = [
    "/usr/share/fonts/truetype/hanazono/HanaMinA.ttf",
    "/usr/share/fonts/truetype/hanazono/HanaMinB.ttf",
];

/// Glyphs kept rasterised by default: the 3,500 characters of the common
/// list at the two or three sizes a layout uses would need more, but a day's
/// names use far fewer; each entry is a few KB, so this is about 10 MB at
/// most.
pub const DEFAULT_GLYPH_CACHE: usize = 4096;

/// Sizes are rounded to this many steps per pixel before rasterising, so
/// shrunk texts of nearby widths share cached glyphs.
pub(crate) const SIZE_STEPS_PER_PX: f32 = 4.0;

/// The fonts section of the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FontConfig {
    /// TrueType/OpenType files in fallback order: each character is drawn
    /// with the first that has it. Default: HanaMinA then HanaMinB
    /// ([`HANAMIN_FONTS`]).
    #[serde(default = "default_font_paths")]
    pub paths: Vec<PathBuf>,
    /// Rasterised glyphs kept in memory (at least 2). Default 4096
    /// ([`DEFAULT_GLYPH_CACHE`]).
    #[serde(default = "default_glyph_cache")]
    pub glyph_cache: usize,
}

impl Default for FontConfig {
    fn default() -> Self {
        Self {
            paths: default_font_paths(),
            glyph_cache: DEFAULT_GLYPH_CACHE,
        }
    }
}

fn default_font_paths() -> Vec<PathBuf> {
    HANAMIN_FONTS.iter().map(PathBuf::from).collect()
}

fn default_glyph_cache() -> usize {
    DEFAULT_GLYPH_CACHE
}

/// Where a character's glyph was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GlyphRef {
    /// Index of the font in the fallback list (0 is the first).
    pub font: usize,
    /// The glyph id in that font (never 0, which is `.notdef`).
    pub glyph_id: u16,
}

/// A rasterised glyph: a coverage mask placed relative to the pen position
/// on the baseline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlyphBitmap {
    /// Column of the mask's left edge, relative to the pen.
    pub left: i32,
    /// Row of the mask's top edge, relative to the baseline (negative is
    /// above it).
    pub top: i32,
    /// Mask width in pixels.
    pub width: u32,
    /// Mask height in pixels.
    pub height: u32,
    /// Row-major coverage, 0 (none) to 255 (full), `width * height` bytes.
    pub coverage: Vec<u8>,
}

impl GlyphBitmap {
    fn empty() -> Self {
        Self {
            left: 0,
            top: 0,
            width: 0,
            height: 0,
            coverage: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct CacheKey {
    font: u16,
    glyph: u16,
    size_steps: u32,
}

struct LoadedFont {
    path: PathBuf,
    font: FontVec,
    /// Font units per em: sizes are pixels per em.
    units_per_em: f32,
}

impl LoadedFont {
    /// The `ab_glyph` scale (pixels from ascent to descent) that draws this
    /// font at `size_px` pixels per em.
    fn px_scale(&self, size_px: f32) -> PxScale {
        PxScale::from(size_px * self.font.height_unscaled() / self.units_per_em)
    }
}

/// TrueType/OpenType fonts in fallback order, with the glyph cache every
/// renderer sharing them uses. `Send + Sync`: share one behind an `Arc`.
pub struct Fonts {
    fonts: Vec<LoadedFont>,
    cache: Mutex<TwoGenerationCache<CacheKey, GlyphBitmap>>,
}

impl fmt::Debug for Fonts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fonts")
            .field(
                "paths",
                &self.fonts.iter().map(|f| &f.path).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Fonts {
    /// Loads the font files in fallback order, with a cache of
    /// [`DEFAULT_GLYPH_CACHE`] glyphs.
    pub fn load<P: AsRef<Path>>(paths: &[P]) -> Result<Fonts, FaceError> {
        Self::load_with_cache(paths, DEFAULT_GLYPH_CACHE)
    }

    /// Loads the fonts a [`FontConfig`] names.
    pub fn from_config(config: &FontConfig) -> Result<Fonts, FaceError> {
        Self::load_with_cache(&config.paths, config.glyph_cache)
    }

    /// Loads the font files in fallback order, keeping at most
    /// `glyph_cache` rasterised glyphs (at least 2).
    pub fn load_with_cache<P: AsRef<Path>>(
        paths: &[P],
        glyph_cache: usize,
    ) -> Result<Fonts, FaceError> {
        if paths.is_empty() {
            return Err(FaceError::NoFonts);
        }
        if paths.len() > usize::from(u16::MAX) {
            return Err(FaceError::InvalidLayout {
                item: "fonts".to_owned(),
                reason: format!("{} font files is more than anyone needs", paths.len()),
            });
        }
        let fonts = paths
            .iter()
            .map(|path| {
                let path = path.as_ref().to_path_buf();
                let data = std::fs::read(&path).map_err(|source| FaceError::FontRead {
                    path: path.clone(),
                    source,
                })?;
                let invalid = |reason: String| FaceError::FontInvalid {
                    path: path.clone(),
                    reason,
                };
                let font = FontVec::try_from_vec(data).map_err(|err| invalid(err.to_string()))?;
                let units_per_em = font
                    .units_per_em()
                    .filter(|upem| *upem > 0.0)
                    .ok_or_else(|| invalid("its head table gives no units per em".to_owned()))?;
                if font.height_unscaled() <= 0.0 {
                    return Err(invalid("its ascent is not above its descent".to_owned()));
                }
                Ok(LoadedFont {
                    path,
                    font,
                    units_per_em,
                })
            })
            .collect::<Result<Vec<_>, FaceError>>()?;
        Ok(Fonts {
            fonts,
            cache: Mutex::new(TwoGenerationCache::new(glyph_cache.max(2))),
        })
    }

    /// How many fonts are in the list.
    pub fn len(&self) -> usize {
        self.fonts.len()
    }

    /// Whether the list is empty (never, once loaded).
    pub fn is_empty(&self) -> bool {
        self.fonts.is_empty()
    }

    /// The file font `index` was loaded from.
    pub fn path(&self, index: usize) -> Option<&Path> {
        self.fonts.get(index).map(|f| f.path.as_path())
    }

    /// The first font that has a glyph for `c`, and the glyph's id; `None`
    /// when no font has one.
    pub fn lookup(&self, c: char) -> Option<GlyphRef> {
        self.fonts.iter().enumerate().find_map(|(font, loaded)| {
            let GlyphId(glyph_id) = loaded.font.glyph_id(c);
            (glyph_id != 0).then_some(GlyphRef { font, glyph_id })
        })
    }

    /// The glyph id font `index` alone has for `c` (0, `.notdef`, when it
    /// has none); `None` for an index past the list.
    pub fn glyph_id_in(&self, index: usize, c: char) -> Option<u16> {
        self.fonts.get(index).map(|f| f.font.glyph_id(c).0)
    }

    /// How far the pen moves after `glyph`, per pixel of text size (em).
    pub(crate) fn advance_per_px(&self, glyph: GlyphRef) -> f32 {
        let loaded = &self.fonts[glyph.font];
        loaded.font.h_advance_unscaled(GlyphId(glyph.glyph_id)) / loaded.units_per_em
    }

    /// Kerning between two glyphs of the same font, per pixel of text size
    /// (0 across fonts).
    pub(crate) fn kern_per_px(&self, first: GlyphRef, second: GlyphRef) -> f32 {
        if first.font != second.font {
            return 0.0;
        }
        let loaded = &self.fonts[first.font];
        loaded
            .font
            .kern_unscaled(GlyphId(first.glyph_id), GlyphId(second.glyph_id))
            / loaded.units_per_em
    }

    /// The first font's ascent and descent (negative) per pixel of text
    /// size (em): a line's extent above and below its baseline, whichever
    /// fonts its characters come from.
    pub(crate) fn line_metrics_per_px(&self) -> (f32, f32) {
        let loaded = &self.fonts[0];
        (
            loaded.font.ascent_unscaled() / loaded.units_per_em,
            loaded.font.descent_unscaled() / loaded.units_per_em,
        )
    }

    /// The coverage mask of glyph `glyph_id` of font `font` at `size_px`
    /// pixels per em (rounded to a quarter pixel), from the cache when it is there. Glyph
    /// id 0 draws the font's `.notdef` glyph (for comparisons in tests; the
    /// renderer never asks for it). A glyph with no outline (a space) is an
    /// empty mask; `None` for a font index past the list.
    pub fn rasterise(&self, font: usize, glyph_id: u16, size_px: f32) -> Option<Arc<GlyphBitmap>> {
        let loaded = self.fonts.get(font)?;
        let size_steps = quantise_size(size_px);
        let key = CacheKey {
            font: u16::try_from(font).expect("at most u16::MAX fonts are loaded"),
            glyph: glyph_id,
            size_steps,
        };
        if let Some(hit) = self.lock_cache().get(&key) {
            return Some(hit);
        }
        let size = size_steps as f32 / SIZE_STEPS_PER_PX;
        let glyph =
            GlyphId(glyph_id).with_scale_and_position(loaded.px_scale(size), point(0.0, 0.0));
        let bitmap = match loaded.font.outline_glyph(glyph) {
            None => GlyphBitmap::empty(),
            Some(outlined) => {
                let bounds = outlined.px_bounds();
                let (width, height) = (bounds.width() as u32, bounds.height() as u32);
                let mut coverage = vec![0u8; width as usize * height as usize];
                outlined.draw(|x, y, c| {
                    let i = y as usize * width as usize + x as usize;
                    if let Some(px) = coverage.get_mut(i) {
                        *px = (c.clamp(0.0, 1.0) * 255.0).round() as u8;
                    }
                });
                GlyphBitmap {
                    left: bounds.min.x as i32,
                    top: bounds.min.y as i32,
                    width,
                    height,
                    coverage,
                }
            }
        };
        let bitmap = Arc::new(bitmap);
        self.lock_cache().insert(key, Arc::clone(&bitmap));
        Some(bitmap)
    }

    /// How many rasterised glyphs are cached now.
    pub fn cached_glyphs(&self) -> usize {
        self.lock_cache().len()
    }

    /// The most rasterised glyphs the cache will hold.
    pub fn glyph_cache_capacity(&self) -> usize {
        self.lock_cache().capacity()
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, TwoGenerationCache<CacheKey, GlyphBitmap>> {
        // A panic while holding the lock leaves at worst a missing entry:
        // the cache stays usable.
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A size in quarter pixels, as the cache keys it.
pub(crate) fn quantise_size(size_px: f32) -> u32 {
    (size_px * SIZE_STEPS_PER_PX).round().max(1.0) as u32
}
