//! The nationality table: complete, without duplicates, and right for the
//! entries operators meet every day.

use std::collections::HashSet;

use cardhub_protocols::identity::Nationality;
use cardhub_protocols::identity::nationality::NATIONALITIES;

#[test]
fn table_has_every_iso_3166_1_entry_once() {
    assert_eq!(NATIONALITIES.len(), 249, "ISO 3166-1 has 249 entries");
    let numerics: HashSet<u16> = NATIONALITIES.iter().map(|n| n.numeric).collect();
    let alpha3s: HashSet<&str> = NATIONALITIES.iter().map(|n| n.alpha3).collect();
    let names_zh: HashSet<&str> = NATIONALITIES.iter().map(|n| n.name_zh).collect();
    assert_eq!(
        numerics.len(),
        NATIONALITIES.len(),
        "duplicate numeric code"
    );
    assert_eq!(alpha3s.len(), NATIONALITIES.len(), "duplicate alpha-3 code");
    assert_eq!(
        names_zh.len(),
        NATIONALITIES.len(),
        "duplicate Chinese name"
    );
    for n in NATIONALITIES {
        assert!(n.numeric >= 1 && n.numeric <= 999, "{n:?}");
        assert!(
            n.alpha3.len() == 3 && n.alpha3.bytes().all(|b| b.is_ascii_uppercase()),
            "{n:?}"
        );
        assert!(!n.name_zh.is_empty() && !n.name_en.is_empty(), "{n:?}");
    }
}

#[test]
fn well_known_entries() {
    let cases = [
        (156, "CHN", "中国", "China"),
        (344, "HKG", "中国香港", "Hong Kong"),
        (446, "MAC", "中国澳门", "Macao"),
        (158, "TWN", "中国台湾", "Taiwan, Province of China"),
        (124, "CAN", "加拿大", "Canada"),
        (682, "SAU", "沙特阿拉伯", "Saudi Arabia"),
        (840, "USA", "美国", "United States of America"),
        (392, "JPN", "日本", "Japan"),
        (410, "KOR", "韩国", "Korea, Republic of"),
        (276, "DEU", "德国", "Germany"),
        (250, "FRA", "法国", "France"),
        (
            826,
            "GBR",
            "英国",
            "United Kingdom of Great Britain and Northern Ireland",
        ),
        (643, "RUS", "俄罗斯", "Russian Federation"),
        (36, "AUS", "澳大利亚", "Australia"),
        (702, "SGP", "新加坡", "Singapore"),
        (4, "AFG", "阿富汗", "Afghanistan"),
        (728, "SSD", "南苏丹", "South Sudan"),
    ];
    for (numeric, alpha3, zh, en) in cases {
        let by_num =
            Nationality::by_numeric(numeric).unwrap_or_else(|| panic!("{numeric} missing"));
        assert_eq!(
            (by_num.alpha3, by_num.name_zh, by_num.name_en),
            (alpha3, zh, en)
        );
        assert_eq!(Nationality::by_alpha3(alpha3), Some(by_num));
        assert_eq!(by_num.display_label(), zh);
    }
    assert_eq!(Nationality::by_alpha3("can").map(|n| n.numeric), Some(124));
    assert_eq!(
        Nationality::by_numeric(4).map(|n| n.numeric_code()),
        Some("004".to_owned())
    );
    assert_eq!(Nationality::by_numeric(999), None);
    assert_eq!(Nationality::by_alpha3("XYZ"), None);
}

#[test]
fn only_china_and_its_regions_are_not_foreign() {
    let not_foreign: Vec<&str> = NATIONALITIES
        .iter()
        .filter(|n| !n.is_foreign())
        .map(|n| n.alpha3)
        .collect();
    assert_eq!(not_foreign, ["CHN", "HKG", "MAC", "TWN"]);
}
