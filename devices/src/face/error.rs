//! [`FaceError`]: everything that can stop a card face or envelope page from
//! being drawn, from a font file that will not load to a character no font
//! has.
//!
//! One enum for the whole `face` boundary: the production line shows the
//! message to the operator and registers the card as waste (or holds it
//! before it starts) on any of them.

use std::fmt;
use std::path::PathBuf;

/// A code point written the Unicode way: `U+` and at least four upper-case
/// hex digits (`U+59D3`, `U+20BB7`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CodePoint(pub char);

impl fmt::Display for CodePoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "U+{:04X}", u32::from(self.0))
    }
}

/// Why a page could not be set up or drawn. Every message says what was
/// wrong and what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FaceError {
    /// No font files were given.
    #[error(
        "no fonts configured for card faces: list at least one TrueType/OpenType file \
         (e.g. /usr/share/fonts/truetype/hanazono/HanaMinA.ttf, then HanaMinB.ttf)"
    )]
    NoFonts,

    /// A font file could not be read.
    #[error(
        "cannot read font file {}: {source}: install it (Debian package fonts-hanazono \
         for the HanaMin pair; `make` installs it) or fix the path",
        path.display()
    )]
    FontRead {
        /// The file named in the configuration.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },

    /// A font file was read but is not a font the rasteriser can use.
    #[error(
        "{} is not a usable TrueType/OpenType font: {reason}: replace it with an \
         uncorrupted copy or remove it from the list",
        path.display()
    )]
    FontInvalid {
        /// The file named in the configuration.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },

    /// The layout is not drawable as written (a box outside the page, a
    /// size out of range, a label that does not fit).
    #[error("page layout: {item}: {reason}: correct the layout in the configuration")]
    InvalidLayout {
        /// Which part of the layout: `page`, `photo box`, `field \`name\``,
        /// `label \`姓名\``, `band 2`, ...
        item: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The layout's background image could not be used.
    #[error(
        "page background image {}: {reason}: fix the file or remove `background_image` \
         from the layout",
        path.display()
    )]
    BackgroundImage {
        /// The file named in the layout.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A character of a field (or label) is in none of the fonts. It is
    /// refused rather than drawn as a missing-glyph box or left out.
    #[error(
        "{field}: character '{character}' ({code_point}) is in none of the fonts: \
         add a font that has it to the font list, or correct the data \
         (the centre's substitution table is for the chip, not the face)"
    )]
    MissingGlyph {
        /// The field's data key (`field \`name\``) or the label.
        field: String,
        /// The character.
        character: char,
        /// Its code point, `U+XXXX`.
        code_point: CodePoint,
    },

    /// A field holds a control character (a line break, a tab, ...), which
    /// cannot be drawn on a one-line field.
    #[error(
        "{field}: control character {code_point} cannot be printed: \
         correct the data (fields are single lines)"
    )]
    ControlCharacter {
        /// The field's data key (`field \`name\``) or the label.
        field: String,
        /// Its code point, `U+XXXX`.
        code_point: CodePoint,
    },

    /// A field the layout requires is absent from the page data, or empty.
    #[error(
        "field `{key}` is required by the page layout but the card's data has no value \
         for it: complete the card's data, or mark the field `required = false`"
    )]
    MissingField {
        /// The data key.
        key: String,
    },

    /// A text is wider than its field allows: at its size for a
    /// `refuse` field, or even at its smallest allowed size for a `shrink`
    /// field.
    #[error(
        "field `{key}`: {chars} characters need {needed_px} px at {size_px} px, \
         but the field is {max_width_px} px wide: check the data, or widen the \
         field's `max_width` (or lower `min_size_px`) in the layout"
    )]
    TextTooLong {
        /// The data key.
        key: String,
        /// How many characters the text has (the text itself is personal
        /// data and is left out of the message).
        chars: usize,
        /// The width the text needs at `size_px`, rounded up.
        needed_px: u32,
        /// The smallest size the field allows.
        size_px: f32,
        /// The field's maximum width.
        max_width_px: u32,
    },

    /// The layout has a photo box but the card's data carries no photo.
    #[error(
        "the page layout has a photo box but the card has no photo: attach the \
         applicant's approved photo, or mark the photo box `required = false`"
    )]
    MissingPhoto,

    /// The photo bytes are not a JPEG at all.
    #[error(
        "the photo is not a JPEG file (it starts with {magic}): photos must be \
         JPEG; ask for the photo again"
    )]
    PhotoNotJpeg {
        /// The first bytes, in hex.
        magic: String,
    },

    /// The photo is a JPEG but broken: cut short, or its data does not
    /// decode.
    #[error("the photo is a damaged JPEG ({reason}): ask for the photo again")]
    PhotoCorrupt {
        /// What is wrong with it.
        reason: String,
    },

    /// The photo decodes but its size is outside what the layout accepts.
    #[error(
        "the photo is {width} x {height} px; this layout accepts {min_width} x {min_height} \
         up to {max_width} x {max_height} px: ask for a photo of the centre's size \
         (358 x 441)"
    )]
    PhotoSize {
        /// The photo's width.
        width: u32,
        /// The photo's height.
        height: u32,
        /// Smallest accepted width.
        min_width: u32,
        /// Smallest accepted height.
        min_height: u32,
        /// Largest accepted width.
        max_width: u32,
        /// Largest accepted height.
        max_height: u32,
    },

    /// The PNG encoder failed (it writes to memory, so this means the image
    /// itself was unusable).
    #[error("cannot encode the page as PNG: {reason}: report this as a bug")]
    PngEncode {
        /// What the encoder said.
        reason: String,
    },
}
