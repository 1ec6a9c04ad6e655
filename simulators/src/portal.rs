//! The simulated government portal (一网通办): applicants for a first
//! card, sent to the hub over HTTP as a real portal hands over ready
//! applications, then extracted into making-card tasks.
//!
//! [`applicant`] makes applicant `n` of a seed, the same every time:
//! - a resident (居民身份证) with an 18-digit number whose GB 11643 check
//!   digit is right, born 1950-2007, mostly in Shanghai's districts;
//! - one in ten (`n % 10 == 3`) a permanent-residence holder
//!   (外国人永久居留身份证, 2023 layout, applied for in Shanghai) with an
//!   English name and the Chinese name on the permit;
//! - one in eight (`n % 8 == 6`) a resident whose name has a CJK extension
//!   B character, 𤋮 (U+242EE, a variant of 熙): the face draws it, the chip
//!   needs the centre's substitution (`[chip.substitutions]` in the hub's
//!   default maps it to 熙);
//! - each with a photo ([`crate::photo::id_photo`]), a mobile number and
//!   an address in Shanghai.
//!
//! [`run`] sends them (`POST /api/v1/applications` with `approve: true`, so
//! each card ends `data-prepared`), then runs the two extractions
//! (`POST /api/v1/workshop/extractions`, `normal` and
//! `permanent-residence`). It blocks (ureq); `cardhub sim portal` is its
//! command line.

use std::io::Write;
use std::time::{Duration, Instant};

use base64::Engine as _;
use cardhub_protocols::identity::check_char;
use serde_json::{Value, json};

use crate::photo::{SplitMix64, id_photo};

/// How long the portal keeps trying to reach a hub that does not answer
/// yet (it is started as soon as the hub's HTTP server is bound).
const CONNECT_PATIENCE: Duration = Duration::from_secs(30);

/// Pause between attempts to reach the hub.
const CONNECT_RETRY: Duration = Duration::from_millis(250);

/// One request's limit: an application is a photo of about 10 KB and a
/// transaction; a minute means the hub is stuck, not slow.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// An applicant, as the portal sends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applicant {
    /// `resident-id` or `permanent-residence`.
    pub document_type: &'static str,
    /// The identity number, check digit included.
    pub document_number: String,
    /// Name (姓名); a permanent-residence holder's is the English name.
    pub name: String,
    /// English name (permanent-residence holders).
    pub english_name: Option<String>,
    /// The Chinese name on the permanent-residence card.
    pub permit_chinese_name: Option<String>,
    /// ISO 3166-1 numeric nationality (156 = China).
    pub nationality: u16,
    /// `male` or `female`, as the number's sequence says.
    pub sex: &'static str,
    /// Ethnicity (民族), GB/T 3304 code; none for foreigners.
    pub ethnicity: Option<u16>,
    /// `YYYY-MM-DD`, as in the number.
    pub birth_date: String,
    /// Mainland mobile number.
    pub phone: String,
    /// Postal address in Shanghai.
    pub address: String,
    /// The seed of the applicant's photo.
    pub photo_seed: u64,
}

impl Applicant {
    /// The body of `POST /api/v1/applications` for this applicant: a first
    /// issue, approved, with the photo.
    pub fn request(&self) -> Value {
        let mut person = json!({
            "document_type": self.document_type,
            "document_number": self.document_number,
            "name": self.name,
            "nationality": self.nationality,
            "sex": self.sex,
            "birth_date": self.birth_date,
            "phone": self.phone,
            "address": self.address,
        });
        for (key, value) in [
            ("english_name", self.english_name.clone().map(Value::from)),
            (
                "permit_chinese_name",
                self.permit_chinese_name.clone().map(Value::from),
            ),
            ("ethnicity", self.ethnicity.map(Value::from)),
        ] {
            if let Some(value) = value {
                person[key] = value;
            }
        }
        let photo = base64::engine::general_purpose::STANDARD.encode(id_photo(self.photo_seed));
        json!({
            "person": person,
            "kind": "first-issue",
            "photo_base64": photo,
            "approve": true,
        })
    }
}

/// Birth regions of residents (GB/T 2260): mostly Shanghai's districts.
const REGIONS: &[&str] = &[
    "310101", "310104", "310105", "310106", "310107", "310109", "310110", "310112", "310113",
    "310115", "320102", "330106", "340104", "110105", "420106", "510107", "370202",
];

/// Shanghai's districts and a street in each, for addresses.
const STREETS: &[(&str, &str)] = &[
    ("黄浦区", "南京东路"),
    ("徐汇区", "漕溪北路"),
    ("长宁区", "愚园路"),
    ("静安区", "延安中路"),
    ("普陀区", "真北路"),
    ("虹口区", "四川北路"),
    ("杨浦区", "国定路"),
    ("闵行区", "莘庄路"),
    ("宝山区", "牡丹江路"),
    ("浦东新区", "世纪大道"),
];

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "欧阳",
    "司马", "诸葛",
];

const GIVEN_MALE: &[&str] = &[
    "伟", "强", "磊", "军", "洋", "勇", "杰", "涛", "明", "超", "浩然", "子轩", "宇航", "志强",
    "建国", "文博", "俊杰", "天佑",
];

const GIVEN_FEMALE: &[&str] = &[
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "婷", "雪", "欣怡", "梓涵", "雨桐", "佳琪",
    "秀英", "美玲", "思彤", "晓燕",
];

/// The CJK extension B character of the rare names: 𤋮 (U+242EE), a
/// variant of 熙.
pub const RARE_CHARACTER: char = '\u{242EE}';

/// Given names with [`RARE_CHARACTER`]; one character each side of it.
const RARE_GIVEN: &[&str] = &["𤋮", "𤋮然", "子𤋮", "𤋮文", "嘉𤋮"];

/// Ethnicities other than Han (01), GB/T 3304: 蒙古 02, 回 03, 维吾尔 05,
/// 壮 08, 朝鲜 10, 满 11.
const OTHER_ETHNICITIES: &[u16] = &[2, 3, 5, 8, 10, 11];

/// Nationalities of permanent-residence holders, with names and the
/// Chinese names their permits carry: (numeric, surnames, given names
/// with sex).
type Names = (
    u16,
    &'static [(&'static str, &'static str)],
    &'static [(&'static str, &'static str, &'static str)],
);

const WESTERN_SURNAMES: &[(&str, &str)] = &[
    ("SMITH", "史密斯"),
    ("JOHNSON", "约翰逊"),
    ("BROWN", "布朗"),
    ("MILLER", "米勒"),
    ("MARTIN", "马丁"),
    ("MUELLER", "穆勒"),
    ("BERNARD", "贝尔纳"),
    ("WILSON", "威尔逊"),
];

const WESTERN_GIVEN: &[(&str, &str, &str)] = &[
    ("JOHN", "约翰", "male"),
    ("DAVID", "大卫", "male"),
    ("THOMAS", "托马斯", "male"),
    ("MICHAEL", "迈克尔", "male"),
    ("EMMA", "艾玛", "female"),
    ("SOPHIE", "苏菲", "female"),
    ("ANNA", "安娜", "female"),
    ("LAURA", "劳拉", "female"),
];

const PERMIT_NAMES: &[Names] = &[
    (840, WESTERN_SURNAMES, WESTERN_GIVEN), // United States
    (826, WESTERN_SURNAMES, WESTERN_GIVEN), // United Kingdom
    (276, WESTERN_SURNAMES, WESTERN_GIVEN), // Germany
    (250, WESTERN_SURNAMES, WESTERN_GIVEN), // France
    (124, WESTERN_SURNAMES, WESTERN_GIVEN), // Canada
    (36, WESTERN_SURNAMES, WESTERN_GIVEN),  // Australia
    (
        392, // Japan
        &[("TANAKA", "田中"), ("SATO", "佐藤"), ("SUZUKI", "铃木")],
        &[
            ("HARUTO", "阳翔", "male"),
            ("YUKI", "由纪", "female"),
            ("AOI", "葵", "female"),
        ],
    ),
    (
        410, // Korea
        &[("KIM", "金"), ("LEE", "李"), ("PARK", "朴")],
        &[
            ("MINJUN", "民俊", "male"),
            ("JIHOON", "智勋", "male"),
            ("SEOYEON", "瑞妍", "female"),
        ],
    ),
    (
        702, // Singapore
        &[("TAN", "陈"), ("LIM", "林"), ("NG", "黄")],
        &[("WEIMING", "伟明", "male"), ("HUILING", "慧玲", "female")],
    ),
];

/// Applicant `n` of `seed`: the same for the same pair, whatever else is
/// made (each applicant draws from a generator of its own).
pub fn applicant(seed: u64, n: u64) -> Applicant {
    let mut rng = SplitMix64::new(seed ^ n.wrapping_mul(0xA24B_AED4_963E_E407));
    let year = 1950 + rng.below(58) as u32;
    let month = 1 + rng.below(12) as u32;
    let day = 1 + rng.below(28) as u32;
    let birth = format!("{year:04}{month:02}{day:02}");
    let (district, street) = rng.pick(STREETS);
    let address = format!(
        "上海市{district}{street}{}弄{}号{}室",
        1 + rng.below(999),
        1 + rng.below(40),
        101 + rng.below(20) * 100 + rng.below(6)
    );
    let phone = format!(
        "1{}{:09}",
        rng.pick(&[3, 5, 7, 8, 9]),
        rng.below(1_000_000_000)
    );
    let photo_seed = rng.next();
    if n % 10 == 3 {
        let (nationality, surnames, given) = rng.pick(PERMIT_NAMES);
        let (surname_en, surname_zh) = rng.pick(surnames);
        let (given_en, given_zh, sex) = rng.pick(given);
        let body = format!(
            "931{nationality:03}{birth}{:03}",
            sequence(&mut rng, sex == "male")
        );
        return Applicant {
            document_type: "permanent-residence",
            document_number: with_check_digit(&body),
            name: format!("{surname_en} {given_en}"),
            english_name: Some(format!("{surname_en} {given_en}")),
            permit_chinese_name: Some(format!("{surname_zh}{given_zh}")),
            nationality,
            sex,
            ethnicity: None,
            birth_date: format!("{year:04}-{month:02}-{day:02}"),
            phone,
            address,
            photo_seed,
        };
    }
    let male = rng.below(2) == 0;
    let surname = rng.pick(SURNAMES);
    let given = if n % 8 == 6 {
        rng.pick(RARE_GIVEN)
    } else if male {
        rng.pick(GIVEN_MALE)
    } else {
        rng.pick(GIVEN_FEMALE)
    };
    let ethnicity = if rng.below(12) == 0 {
        rng.pick(OTHER_ETHNICITIES)
    } else {
        1
    };
    let body = format!(
        "{}{birth}{:03}",
        rng.pick(REGIONS),
        sequence(&mut rng, male)
    );
    Applicant {
        document_type: "resident-id",
        document_number: with_check_digit(&body),
        name: format!("{surname}{given}"),
        english_name: None,
        permit_chinese_name: None,
        nationality: 156,
        sex: if male { "male" } else { "female" },
        ethnicity: Some(ethnicity),
        birth_date: format!("{year:04}-{month:02}-{day:02}"),
        phone,
        address,
        photo_seed,
    }
}

/// A sequence number (顺序码) whose parity says the sex: odd is male.
fn sequence(rng: &mut SplitMix64, male: bool) -> u64 {
    let half = rng.below(500);
    2 * half + u64::from(male)
}

fn with_check_digit(body: &str) -> String {
    let check = check_char(body).expect("17 ASCII digits are built above");
    format!("{body}{check}")
}

/// What `cardhub sim portal` was asked to do.
#[derive(Clone, PartialEq, Eq)]
pub struct PortalArgs {
    /// The hub's base URL, e.g. `http://127.0.0.1:8080`.
    pub hub: String,
    /// A bearer token whose role may apply, approve and extract (the
    /// development admin token).
    pub token: String,
    /// Applicants to send.
    pub count: u64,
    /// Their seed.
    pub seed: u64,
}

impl std::fmt::Debug for PortalArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalArgs")
            .field("hub", &self.hub)
            .field("token", &"<secret>")
            .field("count", &self.count)
            .field("seed", &self.seed)
            .finish()
    }
}

/// What the portal did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortalReport {
    /// Applications the hub accepted.
    pub accepted: u64,
    /// Applications the hub refused: applicant number, status, its answer.
    pub refused: Vec<(u64, u16, String)>,
    /// Tasks made by the `normal` extraction.
    pub normal_tasks: usize,
    /// Tasks made by the `permanent-residence` extraction.
    pub permit_tasks: usize,
}

/// Why the portal stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PortalError {
    /// The hub did not answer.
    #[error(
        "the hub at {url} does not answer ({reason}): is `cardhub serve` running, and is --hub its address?"
    )]
    Unreachable {
        /// The request's URL.
        url: String,
        /// The transport's error.
        reason: String,
    },
    /// The hub refused the token.
    #[error(
        "the hub refused the token ({status}): {body}; give the development admin token (data/dev-api-token)"
    )]
    Token {
        /// 401 or 403.
        status: u16,
        /// The hub's answer.
        body: String,
    },
    /// An extraction failed.
    #[error("the {kind} extraction failed ({status}): {body}")]
    Extraction {
        /// `normal` or `permanent-residence`.
        kind: &'static str,
        /// The status.
        status: u16,
        /// The hub's answer.
        body: String,
    },
    /// The progress lines could not be written.
    #[error("cannot write to standard output: {0}")]
    Output(#[from] std::io::Error),
}

/// Sends `args.count` applicants, then extracts them; one line per step
/// goes to `out`.
pub fn run(args: &PortalArgs, out: &mut impl Write) -> Result<PortalReport, PortalError> {
    let hub = Hub::new(args);
    let mut report = PortalReport::default();
    for n in 0..args.count {
        let applicant = applicant(args.seed, n);
        let (status, body) = hub.post("/api/v1/applications", &applicant.request())?;
        match status {
            201 => {
                report.accepted += 1;
                let card = serde_json::from_str::<Value>(&body)
                    .ok()
                    .and_then(|v| v["card"]["id"].as_i64());
                writeln!(
                    out,
                    "application {n}: accepted, card {} ({}, {})",
                    card.map_or_else(|| "?".to_owned(), |c| c.to_string()),
                    applicant.document_type,
                    applicant.name
                )?;
            }
            401 | 403 => return Err(PortalError::Token { status, body }),
            _ => {
                writeln!(out, "application {n}: refused ({status}): {body}")?;
                report.refused.push((n, status, body));
            }
        }
    }
    for kind in ["normal", "permanent-residence"] {
        let (status, body) = hub.post("/api/v1/workshop/extractions", &json!({ "kind": kind }))?;
        let tasks = match status {
            201 | 200 => serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v["task_ids"].as_array().map(Vec::len))
                .unwrap_or(0),
            // No data-prepared card waits for this kind.
            404 => 0,
            _ => return Err(PortalError::Extraction { kind, status, body }),
        };
        writeln!(out, "extraction {kind}: {tasks} making-card tasks")?;
        match kind {
            "normal" => report.normal_tasks = tasks,
            _ => report.permit_tasks = tasks,
        }
    }
    Ok(report)
}

/// The hub's HTTP API, as the portal calls it.
struct Hub {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl Hub {
    fn new(args: &PortalArgs) -> Hub {
        Hub {
            base: args.hub.trim_end_matches('/').to_owned(),
            token: args.token.clone(),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(REQUEST_TIMEOUT))
                .build()
                .into(),
        }
    }

    /// POSTs JSON; the status and body text. Connection failures are
    /// retried for [`CONNECT_PATIENCE`] (the hub may still be starting).
    fn post(&self, path: &str, body: &Value) -> Result<(u16, String), PortalError> {
        let url = format!("{}{path}", self.base);
        let text = body.to_string();
        let started = Instant::now();
        loop {
            let sent = self
                .agent
                .post(&url)
                .header("Content-Type", "application/json")
                .header("Authorization", format!("Bearer {}", self.token))
                .send(&text);
            match sent {
                Ok(mut response) => {
                    let status = response.status().as_u16();
                    let body = response
                        .body_mut()
                        .read_to_string()
                        .unwrap_or_else(|e| format!("(unreadable answer: {e})"));
                    return Ok((status, body));
                }
                // Only a connection never made is tried again: a request
                // cut off later may have been carried out.
                Err(e) if never_connected(&e) && started.elapsed() < CONNECT_PATIENCE => {
                    tracing::debug!(error = %e, %url, "hub not answering yet");
                    std::thread::sleep(CONNECT_RETRY);
                }
                Err(e) => {
                    return Err(PortalError::Unreachable {
                        url,
                        reason: e.to_string(),
                    });
                }
            }
        }
    }
}

fn never_connected(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::ConnectionFailed => true,
        ureq::Error::Io(io) => io.kind() == std::io::ErrorKind::ConnectionRefused,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cardhub_protocols::identity::{self, IdentityKind};

    fn today() -> chrono::NaiveDate {
        chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()
    }

    #[test]
    fn applicants_are_the_same_for_a_seed_and_differ_between_seeds() {
        assert_eq!(applicant(7, 5), applicant(7, 5));
        assert_ne!(applicant(7, 5), applicant(8, 5));
        assert_eq!(applicant(7, 5).request(), applicant(7, 5).request());
        let numbers: std::collections::BTreeSet<String> =
            (0..200).map(|n| applicant(7, n).document_number).collect();
        assert_eq!(
            numbers.len(),
            200,
            "every applicant has a number of their own"
        );
    }

    #[test]
    fn every_number_is_valid_and_agrees_with_the_person() {
        for n in 0..500 {
            let a = applicant(2026, n);
            let id = identity::parse(&a.document_number, today())
                .unwrap_or_else(|e| panic!("applicant {n} {}: {e}", a.document_number));
            assert_eq!(
                id.birth_date().map(|d| d.to_string()),
                Some(a.birth_date.clone())
            );
            let sex = match id.sex() {
                Some(identity::Sex::Male) => "male",
                Some(identity::Sex::Female) => "female",
                None => panic!("an 18-digit number says the sex"),
            };
            assert_eq!(sex, a.sex, "applicant {n}");
            assert_eq!(id.nationality().numeric, a.nationality, "applicant {n}");
            assert!(identity::is_mainland_mobile(&a.phone), "{}", a.phone);
            match id.kind() {
                IdentityKind::ResidentId => {
                    assert_eq!(a.document_type, "resident-id");
                    assert!(a.english_name.is_none() && a.ethnicity.is_some());
                }
                IdentityKind::PermanentResidence2023 => {
                    assert_eq!(a.document_type, "permanent-residence");
                    assert!(id.nationality().is_foreign());
                    assert!(a.english_name.is_some() && a.permit_chinese_name.is_some());
                    assert!(a.ethnicity.is_none());
                }
                other => panic!("applicant {n}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_mix_has_permit_holders_and_rare_characters() {
        let all: Vec<Applicant> = (0..24).map(|n| applicant(2026, n)).collect();
        let permits = all
            .iter()
            .filter(|a| a.document_type == "permanent-residence")
            .count();
        let rare = all
            .iter()
            .filter(|a| a.name.contains(RARE_CHARACTER))
            .count();
        assert_eq!(permits, 3, "applicants 3, 13 and 23");
        assert_eq!(rare, 3, "applicants 6, 14 and 22");
        let names: std::collections::BTreeSet<&str> = all.iter().map(|a| a.name.as_str()).collect();
        assert!(names.len() > 20, "names vary: {names:?}");
    }

    #[test]
    fn the_request_has_the_route_s_shape() {
        let permit = applicant(1, 3).request();
        assert_eq!(permit["approve"], true);
        assert_eq!(permit["kind"], "first-issue");
        assert_eq!(permit["person"]["document_type"], "permanent-residence");
        assert!(permit["person"]["permit_chinese_name"].is_string());
        assert!(permit["person"].get("ethnicity").is_none());
        let photo = base64::engine::general_purpose::STANDARD
            .decode(permit["photo_base64"].as_str().unwrap())
            .unwrap();
        assert_eq!(&photo[..2], &[0xFF, 0xD8], "a JPEG");
        let resident = applicant(1, 0).request();
        assert_eq!(resident["person"]["nationality"], 156);
        assert!(resident["person"].get("english_name").is_none());
    }
}
