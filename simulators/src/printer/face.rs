//! The check a printer makes of a downloaded panel before printing it:
//! a PNG file (its signature) whose header (IHDR) says 1016 x 648 pixels,
//! the CR80 card face at 300 dpi. The pixels are not decoded: a printer
//! rasterises what it gets; the face file written for people to look at
//! is the panel's bytes as they came.

/// Card face width in pixels (85.6 mm at 300 dpi).
pub const FACE_WIDTH: u32 = 1016;
/// Card face height in pixels (54 mm at 300 dpi).
pub const FACE_HEIGHT: u32 = 648;

/// The eight bytes every PNG file starts with.
const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

/// Checks that `data` is a PNG of a card face; the error says what is
/// wrong, for an `ERR;BAD_DATA;...` reply.
pub fn check_png(data: &[u8]) -> Result<(), String> {
    if data.len() < PNG_SIGNATURE.len() || data[..8] != PNG_SIGNATURE {
        return Err("not a PNG file (no PNG signature): send the card face as PNG".to_owned());
    }
    // The first chunk: length (4, = 13), type "IHDR", width (4), height (4).
    let ihdr = data
        .get(8..24)
        .ok_or("PNG file cut short before its IHDR header")?;
    if ihdr[0..4] != 13u32.to_be_bytes() || &ihdr[4..8] != b"IHDR" {
        return Err("PNG file does not start with an IHDR header".to_owned());
    }
    let width = u32::from_be_bytes([ihdr[8], ihdr[9], ihdr[10], ihdr[11]]);
    let height = u32::from_be_bytes([ihdr[12], ihdr[13], ihdr[14], ihdr[15]]);
    if (width, height) != (FACE_WIDTH, FACE_HEIGHT) {
        return Err(format!(
            "the face is {width} x {height} pixels, the card is {FACE_WIDTH} x {FACE_HEIGHT} (300 dpi): render it at that size"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(width: u32, height: u32) -> Vec<u8> {
        let mut png = PNG_SIGNATURE.to_vec();
        png.extend_from_slice(&13u32.to_be_bytes());
        png.extend_from_slice(b"IHDR");
        png.extend_from_slice(&width.to_be_bytes());
        png.extend_from_slice(&height.to_be_bytes());
        png.extend_from_slice(&[8, 2, 0, 0, 0]);
        png
    }

    #[test]
    fn only_a_card_sized_png_passes() {
        assert_eq!(check_png(&header(1016, 648)), Ok(()));
        assert!(
            check_png(&header(648, 1016))
                .unwrap_err()
                .contains("648 x 1016")
        );
        assert!(check_png(b"GIF89a....").unwrap_err().contains("not a PNG"));
        assert!(
            check_png(&header(1016, 648)[..20])
                .unwrap_err()
                .contains("cut short")
        );
        let mut odd = header(1016, 648);
        odd[12..16].copy_from_slice(b"IDAT");
        assert!(check_png(&odd).unwrap_err().contains("IHDR"));
    }
}
