//! What is printed: the card face's data from the database (name, social
//! security number, card number, issue date, photo), checked before a
//! blank card is taken, and the envelope inner page (邮封) of a finished
//! card. The layouts and fonts come from `[workshop]`.

use std::path::Path;
use std::sync::Arc;

use cardhub_devices::face::{FaceError, Fonts, PageData, PageLayout, Renderer, keys};
use cardhub_protocols::chip::text;
use cardhub_storage::connection::DbConnection;
use cardhub_storage::workshop::EnvelopeData;
use cardhub_storage::{persons, photos};

use super::config::WorkshopConfig;
use super::station::StepError;
use crate::chip::ChipRuntime;

/// The card face and envelope renderers, built once from config.
pub struct Faces {
    /// The card face (1016 x 648).
    pub card: Arc<Renderer>,
    /// The envelope inner page.
    pub envelope: Arc<Renderer>,
}

/// Why the layouts or fonts cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FacesError {
    /// A layout file cannot be read or parsed.
    #[error("layout file {path}: {reason}")]
    Layout {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The fonts or a layout are unusable.
    #[error("{0}; install the fonts with `make run` (fonts-hanazono) or fix `workshop.fonts`")]
    Face(#[from] FaceError),
}

impl Faces {
    /// Loads the fonts and layouts named in `config`.
    pub fn load(config: &WorkshopConfig) -> Result<Faces, FacesError> {
        let fonts = Arc::new(Fonts::load(&config.fonts)?);
        let card = layout(config.card_face.as_deref(), PageLayout::card_face_default)?;
        let envelope = layout(config.envelope.as_deref(), PageLayout::envelope_default)?;
        Ok(Faces {
            card: Arc::new(Renderer::new(card, Arc::clone(&fonts))?),
            envelope: Arc::new(Renderer::new(envelope, fonts)?),
        })
    }
}

fn layout(path: Option<&Path>, default: fn() -> PageLayout) -> Result<PageLayout, FacesError> {
    let Some(path) = path else {
        return Ok(default());
    };
    let bad = |reason: String| FacesError::Layout {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    toml::from_str(&text).map_err(|e| bad(e.to_string()))
}

/// The issue date as printed: the month the card is made, in Shanghai.
pub fn issue_date() -> String {
    chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y年%m月")
        .to_string()
}

/// The card face data of `card_id`, checked against the layout, the fonts
/// and the chip's character set before a blank card is used: a name no
/// font can draw or the chip cannot hold, or a missing photo, is a
/// [`StepError::Data`].
pub fn card_face(
    conn: &mut DbConnection,
    chip: &ChipRuntime,
    renderer: &Renderer,
    card_id: i64,
) -> Result<PageData, StepError> {
    let card = cardhub_storage::cards::get_card(conn, card_id)?;
    let person = persons::get(conn, chip.store.hsm().as_ref(), card.person_id)?;
    let permanent_resident = person.document_type == "permanent-residence";
    let chip_name = match (&person.english_name, permanent_resident) {
        (Some(english), true) => english.clone(),
        _ => person.name.clone(),
    };
    text::to_chip_text("name", &chip_name, &chip.substitutions).map_err(|e| {
        StepError::Data(format!(
            "the name of person {} cannot be written to the chip: {e}; then retry the task",
            person.id
        ))
    })?;
    let printed_name = match (&person.permit_chinese_name, permanent_resident) {
        (Some(chinese), true) => format!("{chip_name} {chinese}"),
        _ => person.name.clone(),
    };
    let number = card.card_number.clone().ok_or_else(|| {
        StepError::Data(format!(
            "card {card_id} has no card number: claim its task first"
        ))
    })?;
    let photo = photos::get_photo(conn, card.application_id)?;
    let mut data = PageData::new()
        .with(keys::NAME, printed_name)
        .with(keys::SSN, person.document_number.clone())
        .with(keys::CARD_NUMBER, number)
        .with(keys::ISSUE_DATE, issue_date());
    if let Some(photo) = photo {
        data.set_photo(photo.jpeg);
    }
    renderer.check(&data).map_err(|e| {
        StepError::Data(format!(
            "the card face of card {card_id} cannot be printed: {e}; fix the data, then retry the task"
        ))
    })?;
    Ok(data)
}

/// The envelope page of a finished card as a PNG.
pub fn envelope_png(renderer: &Renderer, envelope: &EnvelopeData) -> Result<Vec<u8>, FaceError> {
    let name = match &envelope.permit_chinese_name {
        Some(chinese) => format!(
            "{} {chinese}",
            envelope.english_name.as_deref().unwrap_or(&envelope.name)
        ),
        None => envelope.name.clone(),
    };
    let branch = match (&envelope.branch_name, &envelope.branch_code) {
        (Some(name), Some(code)) => format!("{name} ({code})"),
        (Some(name), None) => name.clone(),
        (None, Some(code)) => code.clone(),
        (None, None) => "-".to_owned(),
    };
    let data = PageData::new()
        .with(keys::NAME, name)
        .with(keys::CARD_NUMBER, envelope.card_number.clone())
        .with(keys::BRANCH, branch);
    renderer.render_png(&data)
}
