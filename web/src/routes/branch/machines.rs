//! The self-service machine register (自助机备案) and the machines' photo
//! uploads, under `/api/v1/branch/machines`.
//!
//! The register (`POST`, `GET`, `PATCH`, `DELETE`) is kept by centre staff
//! and administrators; every change is audited
//! (`cardhub_storage::branch::machines`).
//!
//! # Photo uploads
//!
//! `POST /api/v1/branch/machines/{machine_id}/photos` carries no bearer
//! credential: the machine proves itself by signing the upload with the SM2
//! key registered for it. The signed bytes are
//!
//! ```text
//! PHOTO_CONTEXT  "cardhub-machine-photo-v1" (24 bytes, ASCII)
//! u64 BE         length of machine_id in bytes
//! machine_id     UTF-8
//! i64 BE         application_id
//! i64 BE         signed_at_ms (Unix milliseconds, the machine's clock)
//! 32 bytes       SM3 of the JPEG file
//! ```
//!
//! and the signature is SM2 (GB/T 32918.2, SM3, distinguishing ID
//! `1234567812345678`) over `SM3(those bytes)`, as a terminal signs its
//! challenge (`cardhub_protocols::terminal::auth`): 64 bytes `r || s`, sent
//! in hex. The hub accepts an upload when the machine is registered and
//! active, the signature verifies under its key, `signed_at_ms` is within
//! [`CLOCK_WINDOW_MS`] of the hub's clock and after the last upload it
//! accepted from the machine (no replay), the application is of the
//! machine's branch and its card still `applied`, and the photo passes the
//! photo rules (a whole JPEG, at most 2 MiB). Each refusal says which of
//! these failed.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use base64::Engine;
use cardhub_protocols::crypto::sm2::{self, SIGNATURE_LEN};
use cardhub_protocols::crypto::sm3;
use cardhub_storage::branch::machines::{MachineChange, MachineRefusal, MachineStatus, NewMachine};
use cardhub_storage::photos::{self, NewPhoto};
use cardhub_storage::utc_now;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::MAY_REGISTER_MACHINES;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// The domain-separation prefix of a signed upload (version 1).
pub const PHOTO_CONTEXT: &[u8] = b"cardhub-machine-photo-v1";

/// How far an upload's signed time may be from the hub's clock: machines
/// keep time by NTP, and five minutes covers a drifting clock and a slow
/// upload without making a captured upload worth much (the replay check
/// refuses it anyway once a later one is accepted).
pub const CLOCK_WINDOW_MS: i64 = 5 * 60 * 1000;

/// The bytes whose SM3 digest a machine signs (layout in the module doc).
pub fn photo_upload_message(
    machine_id: &str,
    application_id: i64,
    signed_at_ms: i64,
    jpeg: &[u8],
) -> Vec<u8> {
    let mut message = Vec::with_capacity(PHOTO_CONTEXT.len() + 8 + machine_id.len() + 16 + 32);
    message.extend_from_slice(PHOTO_CONTEXT);
    message.extend_from_slice(&(machine_id.len() as u64).to_be_bytes());
    message.extend_from_slice(machine_id.as_bytes());
    message.extend_from_slice(&application_id.to_be_bytes());
    message.extend_from_slice(&signed_at_ms.to_be_bytes());
    message.extend_from_slice(&sm3::digest(jpeg));
    message
}

/// Why a signed upload fails the checks made before storage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    /// The signed time is too far from the hub's clock.
    #[error(
        "the upload is signed {skew_ms} ms away from the hub's clock, outside the {window_ms} ms allowed: set the machine's clock (NTP) and sign it again"
    )]
    ClockSkew {
        /// `signed_at_ms - now_ms`.
        skew_ms: i64,
        /// The window allowed.
        window_ms: i64,
    },
    /// The signature is not 64 bytes of hex.
    #[error("`signature_hex` is not {SIGNATURE_LEN} bytes of hex (r || s): {0}")]
    MalformedSignature(String),
    /// The signature does not verify under the registered key.
    #[error(
        "the signature does not verify under the key registered for `{machine_id}`: the machine holds another key (re-register it) or signed other bytes (see the layout in the API's documentation)"
    )]
    BadSignature {
        /// The machine.
        machine_id: String,
    },
}

/// Checks a signed upload against the registered key at `now_ms`: the
/// clock window, then the signature over [`photo_upload_message`].
pub fn verify_upload(
    machine_id: &str,
    public_key: &[u8],
    application_id: i64,
    signed_at_ms: i64,
    jpeg: &[u8],
    signature_hex: &str,
    now_ms: i64,
) -> Result<(), UploadError> {
    let skew_ms = signed_at_ms.saturating_sub(now_ms);
    if skew_ms.saturating_abs() > CLOCK_WINDOW_MS {
        return Err(UploadError::ClockSkew {
            skew_ms,
            window_ms: CLOCK_WINDOW_MS,
        });
    }
    let signature = hex::decode(signature_hex.trim())
        .map_err(|e| UploadError::MalformedSignature(e.to_string()))?;
    if signature.len() != SIGNATURE_LEN {
        return Err(UploadError::MalformedSignature(format!(
            "{} bytes",
            signature.len()
        )));
    }
    let digest = sm3::digest(&photo_upload_message(
        machine_id,
        application_id,
        signed_at_ms,
        jpeg,
    ));
    match sm2::verify(public_key, &digest, &signature) {
        Ok(true) => Ok(()),
        Ok(false) => Err(UploadError::BadSignature {
            machine_id: machine_id.to_owned(),
        }),
        Err(e) => Err(UploadError::MalformedSignature(e.to_string())),
    }
}

/// A machine to register.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MachineRequest {
    /// The machine's id (asset number), unique.
    #[schema(example = "SSM-XH01-01")]
    pub machine_id: String,
    /// The branch it stands at (code).
    pub branch_code: String,
    /// Where in the branch.
    pub location: String,
    /// Its SM2 public key, SEC1 uncompressed, 130 hex digits starting `04`.
    pub public_key_hex: String,
}

/// Changes to a machine's registration; fields left out stay.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MachinePatch {
    /// Moved to another branch (code).
    #[serde(default)]
    pub branch_code: Option<String>,
    /// Moved within the branch.
    #[serde(default)]
    pub location: Option<String>,
    /// Re-keyed.
    #[serde(default)]
    pub public_key_hex: Option<String>,
    /// `active` or `suspended`.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "suspended")]
    pub status: Option<MachineStatus>,
}

/// `GET /branch/machines` parameters.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MachineListQuery {
    /// One branch's machines (code); default all.
    pub branch: Option<String>,
}

/// A signed photo upload.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhotoUpload {
    /// The application the photo is for (of the machine's branch).
    pub application_id: i64,
    /// The JPEG, standard base64.
    pub jpeg_base64: String,
    /// When the machine signed the upload (Unix milliseconds).
    pub signed_at_ms: i64,
    /// SM2 signature `r || s`, 128 hex digits, over SM3 of the message in
    /// the module documentation.
    pub signature_hex: String,
}

fn public_key(hex_text: &str) -> Result<Vec<u8>, ApiError> {
    hex::decode(hex_text.trim()).map_err(|e| ApiError::Unprocessable {
        code: "invalid-public-key",
        message: format!(
            "`public_key_hex` is not hex ({e}): send the SEC1 uncompressed key, 130 hex digits starting 04"
        ),
        detail: None,
    })
}

/// Registers a self-service machine.
#[utoipa::path(
    tag = "branch",
    request_body = MachineRequest,
    responses(
        (status = 201, description = "Registered: `id`, `machine_id`, `branch_id`, `branch_code`, `location`, `public_key` (hex), `status`, `last_signed_ms`, `created_at`, `updated_at`"),
        (status = 403, description = "Not centre staff or admin", body = ErrorBody),
        (status = 404, description = "No branch with that code", body = ErrorBody),
        (status = 409, description = "The machine id is registered already", body = ErrorBody),
        (status = 422, description = "A bad machine id, location or key", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/branch/machines")]
pub async fn register(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<MachineRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_REGISTER_MACHINES)?;
    let MachineRequest {
        machine_id,
        branch_code,
        location,
        public_key_hex,
    } = body.into_inner();
    let machine = state
        .store
        .register_machine(
            NewMachine {
                machine_id,
                branch_code,
                location,
                public_key: public_key(&public_key_hex)?,
            },
            caller.actor(),
        )
        .await?;
    Ok(HttpResponse::Created().json(machine))
}

/// The registered machines.
#[utoipa::path(
    tag = "branch",
    params(MachineListQuery),
    responses(
        (status = 200, description = "The machines, by id, each `id`, `machine_id`, `branch_id`, `branch_code`, `location`, `public_key` (hex), `status`, `last_signed_ms`, `created_at`, `updated_at`"),
        (status = 403, description = "Not centre staff or admin", body = ErrorBody),
        (status = 404, description = "No branch with that code", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/branch/machines")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<MachineListQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_REGISTER_MACHINES)?;
    let branch_id = match query.into_inner().branch {
        Some(code) => Some(state.store.branch_by_code(code).await?.id),
        None => None,
    };
    Ok(HttpResponse::Ok().json(state.store.list_machines(branch_id).await?))
}

/// One machine's registration.
#[utoipa::path(
    tag = "branch",
    params(("machine_id" = String, Path, description = "The machine's id")),
    responses(
        (status = 200, description = "The machine: `id`, `machine_id`, `branch_id`, `branch_code`, `location`, `public_key` (hex), `status`, `last_signed_ms`, `created_at`, `updated_at`"),
        (status = 404, description = "Not registered", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/branch/machines/{machine_id}")]
pub async fn get_machine(
    state: web::Data<AppState>,
    caller: Caller,
    machine_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_REGISTER_MACHINES)?;
    Ok(HttpResponse::Ok().json(state.store.get_machine(machine_id.into_inner()).await?))
}

/// Changes a machine's branch, location, key or status.
#[utoipa::path(
    tag = "branch",
    params(("machine_id" = String, Path, description = "The machine's id")),
    request_body = MachinePatch,
    responses(
        (status = 200, description = "Changed; the machine as it is now"),
        (status = 404, description = "Not registered, or no branch with that code", body = ErrorBody),
        (status = 422, description = "A bad location or key", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[patch("/branch/machines/{machine_id}")]
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    machine_id: web::Path<String>,
    body: web::Json<MachinePatch>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_REGISTER_MACHINES)?;
    let MachinePatch {
        branch_code,
        location,
        public_key_hex,
        status,
    } = body.into_inner();
    let change = MachineChange {
        branch_code,
        location,
        public_key: public_key_hex.as_deref().map(public_key).transpose()?,
        status,
    };
    let machine = state
        .store
        .update_machine(machine_id.into_inner(), change, caller.actor())
        .await?;
    Ok(HttpResponse::Ok().json(machine))
}

/// Removes a machine from the register.
#[utoipa::path(
    tag = "branch",
    params(("machine_id" = String, Path, description = "The machine's id")),
    responses(
        (status = 204, description = "Deregistered"),
        (status = 404, description = "Not registered", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[delete("/branch/machines/{machine_id}")]
pub async fn deregister(
    state: web::Data<AppState>,
    caller: Caller,
    machine_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_REGISTER_MACHINES)?;
    state
        .store
        .deregister_machine(machine_id.into_inner(), caller.actor())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

fn refused(reason: &'static str, message: String) -> ApiError {
    ApiError::Refused {
        message,
        detail: Some(serde_json::json!({ "reason": reason })),
    }
}

/// A registered machine's signed photo upload for an application of its
/// branch (no bearer credential: the SM2 signature is the credential).
#[utoipa::path(
    tag = "branch",
    params(("machine_id" = String, Path, description = "The uploading machine's id")),
    request_body = PhotoUpload,
    responses(
        (status = 201, description = "Stored as the application's photo"),
        (status = 403, description = "Refused; `detail.reason`: `not-registered`, `suspended`, `bad-signature`, `malformed-signature`, `clock-skew`, `replayed`, `key-changed`, `other-branch`", body = ErrorBody),
        (status = 404, description = "No such application", body = ErrorBody),
        (status = 409, description = "The application's photo can no longer change (its card is past `applied`)", body = ErrorBody),
        (status = 422, description = "Not a usable JPEG (`invalid-photo`)", body = ErrorBody),
    ),
)]
#[post("/branch/machines/{machine_id}/photos")]
pub async fn upload_photo(
    state: web::Data<AppState>,
    machine_id: web::Path<String>,
    body: web::Json<PhotoUpload>,
) -> Result<HttpResponse, ApiError> {
    let machine_id = machine_id.into_inner();
    let PhotoUpload {
        application_id,
        jpeg_base64,
        signed_at_ms,
        signature_hex,
    } = body.into_inner();
    let machine = match state.store.get_machine(machine_id.clone()).await {
        Ok(m) => m,
        Err(cardhub_storage::StorageError::NotFound { .. }) => {
            return Err(refused(
                "not-registered",
                format!(
                    "self-service machine `{machine_id}` is not registered: the centre registers it (POST /api/v1/branch/machines) with its public key before it uploads"
                ),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    if machine.status != MachineStatus::Active {
        return Err(refused(
            "suspended",
            MachineRefusal::Suspended { machine_id }.to_string(),
        ));
    }
    // The signature covers the exact bytes, so decode before checking it;
    // the photo rules come after (a forged upload learns nothing of them).
    let jpeg = base64::engine::general_purpose::STANDARD
        .decode(jpeg_base64.trim())
        .map_err(|e| ApiError::Unprocessable {
            code: "invalid-photo",
            message: format!("`jpeg_base64` is not standard base64: {e}"),
            detail: None,
        })?;
    let now_ms = utc_now().and_utc().timestamp_millis();
    verify_upload(
        &machine.machine_id,
        &machine.public_key,
        application_id,
        signed_at_ms,
        &jpeg,
        &signature_hex,
        now_ms,
    )
    .map_err(|e| {
        let reason = match e {
            UploadError::ClockSkew { .. } => "clock-skew",
            UploadError::MalformedSignature(_) => "malformed-signature",
            UploadError::BadSignature { .. } => "bad-signature",
        };
        refused(reason, e.to_string())
    })?;
    let (width, height) = photos::jpeg_dimensions(&jpeg).map_err(|e| ApiError::Unprocessable {
        code: "invalid-photo",
        message: format!("`jpeg_base64` is not a usable JPEG: {e}"),
        detail: None,
    })?;
    let photo = NewPhoto {
        jpeg,
        width: i32::from(width),
        height: i32::from(height),
    };
    let photo_len = photo.jpeg.len();
    let stored = state
        .store
        .accept_machine_photo(
            machine.machine_id,
            machine.public_key,
            signed_at_ms,
            application_id,
            photo,
        )
        .await?;
    match stored {
        Ok(()) => Ok(HttpResponse::Created().json(serde_json::json!({
            "application_id": application_id,
            "bytes": photo_len,
        }))),
        Err(refusal) => {
            let reason = match &refusal {
                MachineRefusal::Suspended { .. } => "suspended",
                MachineRefusal::KeyChanged { .. } => "key-changed",
                MachineRefusal::Replayed { .. } => "replayed",
                MachineRefusal::OtherBranch { .. } => "other-branch",
                _ => "refused",
            };
            Err(refused(reason, refusal.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cardhub_protocols::crypto::sm2::SigningKey;

    const NOW_MS: i64 = 1_772_000_000_000;

    fn signed(key: &SigningKey, application_id: i64, at_ms: i64, jpeg: &[u8]) -> String {
        let digest = sm3::digest(&photo_upload_message("SSM-1", application_id, at_ms, jpeg));
        hex::encode(key.sign(&digest))
    }

    #[test]
    fn the_message_is_length_prefixed_and_names_the_protocol() {
        let m = photo_upload_message("ab", 7, 9, b"jpeg");
        assert!(m.starts_with(PHOTO_CONTEXT));
        let rest = &m[PHOTO_CONTEXT.len()..];
        assert_eq!(&rest[..8], &2u64.to_be_bytes());
        assert_eq!(&rest[8..10], b"ab");
        assert_eq!(&rest[10..18], &7i64.to_be_bytes());
        assert_eq!(&rest[18..26], &9i64.to_be_bytes());
        assert_eq!(&rest[26..], &sm3::digest(b"jpeg"));
        assert_ne!(
            photo_upload_message("ab", 7, 9, b"jpeg"),
            photo_upload_message("a", 7, 9, b"jpeg")
        );
    }

    #[test]
    fn a_signature_by_the_registered_key_verifies_and_nothing_else_does() {
        let key = SigningKey::generate();
        let public = key.public_key();
        let jpeg = b"\xFF\xD8 a photo \xFF\xD9";
        let sig = signed(&key, 7, NOW_MS, jpeg);
        assert_eq!(
            verify_upload("SSM-1", &public, 7, NOW_MS, jpeg, &sig, NOW_MS),
            Ok(())
        );
        // Another application, another photo, another machine, another key.
        assert!(matches!(
            verify_upload("SSM-1", &public, 8, NOW_MS, jpeg, &sig, NOW_MS),
            Err(UploadError::BadSignature { .. })
        ));
        assert!(matches!(
            verify_upload("SSM-1", &public, 7, NOW_MS, b"other", &sig, NOW_MS),
            Err(UploadError::BadSignature { .. })
        ));
        assert!(matches!(
            verify_upload("SSM-2", &public, 7, NOW_MS, jpeg, &sig, NOW_MS),
            Err(UploadError::BadSignature { .. })
        ));
        let other = SigningKey::generate().public_key();
        assert!(matches!(
            verify_upload("SSM-1", &other, 7, NOW_MS, jpeg, &sig, NOW_MS),
            Err(UploadError::BadSignature { .. })
        ));
        assert!(matches!(
            verify_upload("SSM-1", &public, 7, NOW_MS, jpeg, "zz", NOW_MS),
            Err(UploadError::MalformedSignature(_))
        ));
    }

    #[test]
    fn the_signed_time_must_be_near_the_hubs_clock() {
        let key = SigningKey::generate();
        let jpeg = b"photo";
        let late = NOW_MS - CLOCK_WINDOW_MS - 1;
        let sig = signed(&key, 7, late, jpeg);
        assert!(matches!(
            verify_upload("SSM-1", &key.public_key(), 7, late, jpeg, &sig, NOW_MS),
            Err(UploadError::ClockSkew { .. })
        ));
        let edge = NOW_MS + CLOCK_WINDOW_MS;
        let sig = signed(&key, 7, edge, jpeg);
        assert_eq!(
            verify_upload("SSM-1", &key.public_key(), 7, edge, jpeg, &sig, NOW_MS),
            Ok(())
        );
    }
}
