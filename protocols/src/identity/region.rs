//! Province-level region codes (GB/T 2260, the first two digits of a
//! six-digit administrative region code), used to check the leading digits
//! of an 18-character identity number and to name the province.
//!
//! This is not the full county-level GB/T 2260 table: county codes are
//! renumbered every year and an old card keeps the code of the year it was
//! issued, so only the stable province level is checked. The nationality
//! table lives in [`super::nationality`].

use serde::Serialize;

/// A province-level region (省级行政区).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Province {
    /// Two-digit GB/T 2260 code, e.g. `"32"`.
    pub code: &'static str,
    /// Chinese name, e.g. 江苏省.
    pub name_zh: &'static str,
}

/// Shorthand for the table rows below.
const fn p(code: &'static str, name_zh: &'static str) -> Province {
    Province { code, name_zh }
}

/// The mainland provinces, the ones that issue resident ID cards and accept
/// permanent-residence applications, in code order.
const MAINLAND: &[Province] = &[
    p("11", "北京市"),
    p("12", "天津市"),
    p("13", "河北省"),
    p("14", "山西省"),
    p("15", "内蒙古自治区"),
    p("21", "辽宁省"),
    p("22", "吉林省"),
    p("23", "黑龙江省"),
    p("31", "上海市"),
    p("32", "江苏省"),
    p("33", "浙江省"),
    p("34", "安徽省"),
    p("35", "福建省"),
    p("36", "江西省"),
    p("37", "山东省"),
    p("41", "河南省"),
    p("42", "湖北省"),
    p("43", "湖南省"),
    p("44", "广东省"),
    p("45", "广西壮族自治区"),
    p("46", "海南省"),
    p("50", "重庆市"),
    p("51", "四川省"),
    p("52", "贵州省"),
    p("53", "云南省"),
    p("54", "西藏自治区"),
    p("61", "陕西省"),
    p("62", "甘肃省"),
    p("63", "青海省"),
    p("64", "宁夏回族自治区"),
    p("65", "新疆维吾尔自治区"),
];

/// Leading codes of the 港澳台居民居住证 (residence permit for Hong Kong,
/// Macao and Taiwan residents, issued since 2018): its number has the
/// resident-ID layout with region 810000 (Hong Kong), 820000 (Macao) or
/// 830000 (Taiwan). 71 is Taiwan's GB/T 2260 code; no card carries it, but
/// it is a valid region code and is accepted.
const OUTSIDE_MAINLAND: &[Province] = &[
    p("71", "台湾省"),
    p("81", "香港特别行政区"),
    p("82", "澳门特别行政区"),
    p("83", "台湾地区"),
];

/// The province a resident-ID-layout number may start with.
pub fn resident_province(code: &str) -> Option<&'static Province> {
    MAINLAND
        .iter()
        .chain(OUTSIDE_MAINLAND)
        .find(|p| p.code == code)
}

/// The province of application of a 2023 permanent-residence number: only
/// mainland provinces accept applications.
pub fn mainland_province(code: &str) -> Option<&'static Province> {
    MAINLAND.iter().find(|p| p.code == code)
}

/// Every mainland province, in code order (for generators and forms).
pub fn mainland_provinces() -> &'static [Province] {
    MAINLAND
}

/// The alpha-3 code of the region whose residence permit starts with
/// `province` (81 → HKG, 82 → MAC, 83 → TWN), or `None` for a resident ID.
pub(crate) fn residence_permit_region(province: &str) -> Option<&'static str> {
    match province {
        "81" => Some("HKG"),
        "82" => Some("MAC"),
        "83" => Some("TWN"),
        _ => None,
    }
}
