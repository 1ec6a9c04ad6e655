//! Photos (照片): one JPEG per application, the holder's photo printed on
//! the card face. It may be replaced while the application's card is still
//! `applied` (before the centre approves it); after that it is what the
//! card is made with. The JPEG is checked before it is stored: it must
//! start with SOI, end with EOI, and its frame header must give the width
//! and height the caller states.
//!
//! Not here: capturing or approving photos (branch devices, the centre's
//! review), rendering the card face (devices).

use cardhub_protocols::card_status::CardStatus;
use cardhub_protocols::crypto::Hsm;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::audit::{self, AuditEntry};
use crate::connection::{DbConnection, write_tx};
use crate::error::{StorageError, db};
use crate::schema::photos;
use crate::{Actor, Store, applications, cards, utc_now};

/// Largest photo accepted. A card photo (358 × 441 px) is a few tens of
/// kilobytes; 2 MiB admits a camera's full frame without admitting junk.
pub const MAX_PHOTO_BYTES: usize = 2 * 1024 * 1024;

/// A photo to store.
#[derive(Clone, PartialEq, Eq)]
pub struct NewPhoto {
    /// The JPEG file.
    pub jpeg: Vec<u8>,
    /// Width in pixels (must match the JPEG).
    pub width: i32,
    /// Height in pixels (must match the JPEG).
    pub height: i32,
}

/// A stored photo.
#[derive(Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = photos)]
pub struct Photo {
    /// The application.
    pub application_id: i64,
    /// The JPEG file.
    pub jpeg: Vec<u8>,
    /// Width in pixels.
    pub width: i32,
    /// Height in pixels.
    pub height: i32,
    /// When stored (UTC).
    pub created_at: NaiveDateTime,
}

// The bytes stay out of logs.
impl std::fmt::Debug for NewPhoto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewPhoto")
            .field("bytes", &self.jpeg.len())
            .field("width", &self.width)
            .field("height", &self.height)
            .finish()
    }
}

impl std::fmt::Debug for Photo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Photo")
            .field("application_id", &self.application_id)
            .field("bytes", &self.jpeg.len())
            .field("width", &self.width)
            .field("height", &self.height)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// The `(width, height)` a JPEG's frame header (SOFn) gives, or why the
/// bytes are not a whole JPEG.
pub fn jpeg_dimensions(jpeg: &[u8]) -> Result<(u16, u16), String> {
    if jpeg.len() < 4 || jpeg[..2] != [0xFF, 0xD8] {
        return Err("it does not start with a JPEG SOI marker (FF D8)".to_owned());
    }
    if jpeg[jpeg.len() - 2..] != [0xFF, 0xD9] {
        return Err(
            "it does not end with a JPEG EOI marker (FF D9): the file is truncated".to_owned(),
        );
    }
    let mut at = 2;
    loop {
        // Markers may be preceded by any number of FF fill bytes.
        while jpeg.get(at) == Some(&0xFF) && jpeg.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (jpeg.get(at), jpeg.get(at + 1)) else {
            return Err(format!("no JPEG marker at byte {at}"));
        };
        at += 2;
        // Markers without a length field.
        if marker == 0x01 || (0xD0..=0xD7).contains(&marker) {
            continue;
        }
        let Some(len) = jpeg
            .get(at..at + 2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        else {
            return Err(format!("segment FF{marker:02X} is cut short"));
        };
        if len < 2 || at + len > jpeg.len() {
            return Err(format!("segment FF{marker:02X} has a bad length {len}"));
        }
        let is_frame = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_frame {
            let Some(header) = jpeg.get(at + 2..at + 7) else {
                return Err("the frame header is cut short".to_owned());
            };
            let height = u16::from_be_bytes([header[1], header[2]]);
            let width = u16::from_be_bytes([header[3], header[4]]);
            return Ok((width, height));
        }
        if marker == 0xDA || marker == 0xD9 {
            return Err("no frame header (SOFn) before the image data".to_owned());
        }
        at += len;
    }
}

fn check_photo(photo: &NewPhoto) -> Result<(), StorageError> {
    let invalid = |reason: String| StorageError::Invalid {
        what: "photo",
        reason,
    };
    if photo.jpeg.len() > MAX_PHOTO_BYTES {
        return Err(invalid(format!(
            "{} bytes is more than the {MAX_PHOTO_BYTES} allowed: send the cropped card photo",
            photo.jpeg.len()
        )));
    }
    let (width, height) = jpeg_dimensions(&photo.jpeg).map_err(invalid)?;
    if (i32::from(width), i32::from(height)) != (photo.width, photo.height) {
        return Err(invalid(format!(
            "the JPEG is {width} x {height} pixels, not the {} x {} stated",
            photo.width, photo.height
        )));
    }
    if width == 0 || height == 0 {
        return Err(invalid("the JPEG has no pixels".to_owned()));
    }
    Ok(())
}

/// Stores (or replaces) the photo of an application. The photo must be a
/// whole JPEG of the stated size ([`StorageError::Invalid`]); the
/// application's card must still be `applied` ([`StorageError::Conflict`]
/// once the photo was approved). Audited as `photo.put` (size only).
pub fn put_photo(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    application_id: i64,
    photo: &NewPhoto,
    actor: &Actor,
) -> Result<(), StorageError> {
    check_photo(photo)?;
    write_tx(conn, |conn| {
        applications::get_application(conn, application_id)?;
        let live = cards::cards_of_application(conn, application_id)?
            .into_iter()
            .rfind(|c| c.status != CardStatus::Waste);
        match live {
            Some(card) if card.status == CardStatus::Applied => {}
            Some(card) => {
                return Err(StorageError::Conflict {
                    what: format!(
                        "the photo of application {application_id} can no longer change: its card {} is {} ({}), and a photo is replaced only while the card is applied",
                        card.id,
                        card.status,
                        card.status.label_zh()
                    ),
                });
            }
            None => {
                return Err(StorageError::NotFound {
                    what: "live card of application",
                    key: application_id.to_string(),
                });
            }
        }
        let replaced = diesel::delete(photos::table.find(application_id))
            .execute(conn)
            .map_err(db("remove an earlier photo"))?
            > 0;
        diesel::insert_into(photos::table)
            .values((
                photos::application_id.eq(application_id),
                photos::jpeg.eq(&photo.jpeg),
                photos::width.eq(photo.width),
                photos::height.eq(photo.height),
                photos::created_at.eq(utc_now()),
            ))
            .execute(conn)
            .map_err(db("store a photo"))?;
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                actor,
                "photo.put",
                format!("application:{application_id}"),
                serde_json::json!({
                    "bytes": photo.jpeg.len(),
                    "width": photo.width,
                    "height": photo.height,
                    "replaced": replaced,
                }),
            ),
        )?;
        Ok(())
    })
}

/// The photo of an application, if one was stored.
pub fn get_photo(
    conn: &mut DbConnection,
    application_id: i64,
) -> Result<Option<Photo>, StorageError> {
    photos::table
        .find(application_id)
        .select(Photo::as_select())
        .first(conn)
        .optional()
        .map_err(db("read a photo"))
}

impl Store {
    /// [`put_photo`] on the blocking pool.
    pub async fn put_photo(
        &self,
        application_id: i64,
        photo: NewPhoto,
        actor: Actor,
    ) -> Result<(), StorageError> {
        let hsm = self.hsm().clone();
        self.write("photos.put", move |conn| {
            put_photo(conn, hsm.as_ref(), application_id, &photo, &actor)
        })
        .await
    }

    /// [`get_photo`] on the blocking pool.
    pub async fn get_photo(&self, application_id: i64) -> Result<Option<Photo>, StorageError> {
        self.run("photos.get", move |conn| get_photo(conn, application_id))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest useful JPEG shape: SOI, an APP0 segment, a baseline
    /// frame header of `width` x `height`, SOS, one byte of data, EOI.
    fn jpeg(width: u16, height: u16) -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8];
        v.extend_from_slice(&[0xFF, 0xE0, 0x00, 0x07, b'J', b'F', b'I', b'F', 0x00]);
        v.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x0B, 0x08]);
        v.extend_from_slice(&height.to_be_bytes());
        v.extend_from_slice(&width.to_be_bytes());
        v.extend_from_slice(&[0x01, 0x01, 0x11, 0x00]);
        v.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x02, 0x00, 0xFF, 0xD9]);
        v
    }

    #[test]
    fn dimensions_come_from_the_frame_header() {
        assert_eq!(jpeg_dimensions(&jpeg(358, 441)), Ok((358, 441)));
    }

    #[test]
    fn broken_jpegs_are_refused() {
        let good = jpeg(10, 20);
        assert!(jpeg_dimensions(&good[..good.len() - 1]).is_err(), "no EOI");
        assert!(jpeg_dimensions(&good[1..]).is_err(), "no SOI");
        assert!(jpeg_dimensions(b"\x89PNG\r\n\x1a\n").is_err());
        let mut bad_len = good.clone();
        bad_len[5] = 0xFF;
        assert!(jpeg_dimensions(&bad_len).is_err(), "segment past the end");
        assert!(jpeg_dimensions(&[0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02, 0xFF, 0xD9]).is_err());
    }

    #[test]
    fn stated_size_must_match() {
        let photo = NewPhoto {
            jpeg: jpeg(358, 441),
            width: 441,
            height: 358,
        };
        assert!(matches!(
            check_photo(&photo),
            Err(StorageError::Invalid { .. })
        ));
        let photo = NewPhoto {
            width: 358,
            height: 441,
            ..photo
        };
        assert!(check_photo(&photo).is_ok());
    }
}
