//! Chip text: GBK bytes of known names, the 09/4E split at character
//! boundaries, substitutions and refusals, strict decoding.

use super::*;

fn table() -> SubstitutionTable {
    SubstitutionTable::new([('𠮷', "吉".to_owned()), ('\u{2022}', "·".to_owned())])
        .expect("valid table")
}

#[test]
fn common_names_encode_to_their_gbk_bytes() {
    let none = SubstitutionTable::default();
    assert_eq!(
        encode_gbk("name", "张三", &none).expect("gbk"),
        vec![0xD5, 0xC5, 0xC8, 0xFD]
    );
    // The middle dot of minority and foreign names is in GBK (A1A4).
    assert_eq!(
        encode_gbk("name", "买买提·艾力", &none).expect("gbk")[6..8],
        [0xA1, 0xA4]
    );
    assert_eq!(
        encode_gbk("name", "JOHN SMITH", &none).expect("ascii"),
        b"JOHN SMITH"
    );
}

#[test]
fn unencodable_characters_are_substituted_or_refused_with_advice() {
    let text = to_chip_text("name", "𠮷祥", &table()).expect("substituted");
    assert_eq!(text, "吉祥");
    assert_eq!(
        encode_gbk("name", "𠮷祥", &table()).expect("substituted"),
        encode_gbk("name", "吉祥", &SubstitutionTable::default()).expect("gbk")
    );
    let err = encode_gbk("name", "王𪚥", &table()).expect_err("not in GBK, no entry");
    assert_eq!(
        err,
        TextError::Unencodable {
            field: "name",
            character: '𪚥',
            code_point: "U+2A6A5".into(),
            why: "GBK has no such character",
        }
    );
    let message = err.to_string();
    assert!(
        message.contains("name")
            && message.contains("𪚥")
            && message.contains("U+2A6A5")
            && message.contains("[chip.substitutions]"),
        "{message}"
    );
    assert!(matches!(
        encode_gbk("name", "a\u{0}b", &table()),
        Err(TextError::Unencodable {
            character: '\0',
            ..
        })
    ));
    assert!(matches!(
        encode_gbk("name", "\u{E001}", &table()),
        Err(TextError::Unencodable { .. })
    ));
}

#[test]
fn bad_substitution_tables_are_refused() {
    assert!(matches!(
        SubstitutionTable::new([('𠮷', String::new())]),
        Err(TextError::BadSubstitution { .. })
    ));
    let err = SubstitutionTable::new([('𠮷', "𪚥".to_owned())]).expect_err("unwritable");
    assert!(err.to_string().contains("U+2A6A5"), "{err}");
    let config: BTreeMap<String, String> = [("𠮷吉".to_owned(), "吉".to_owned())].into();
    assert!(matches!(
        SubstitutionTable::from_config(&config),
        Err(TextError::BadSubstitution { .. })
    ));
    let config: BTreeMap<String, String> = [("𠮷".to_owned(), "吉".to_owned())].into();
    let t = SubstitutionTable::from_config(&config).expect("valid");
    assert_eq!((t.len(), t.get('𠮷')), (1, Some("吉")));
}

#[test]
fn names_split_at_character_boundaries() {
    let none = SubstitutionTable::default();
    // 15 Chinese characters fill 09 exactly.
    let fifteen = "张".repeat(15);
    let split = split_name(&fifteen, &none).expect("fits");
    assert_eq!((split.name.len(), split.extension.len()), (30, 0));
    // An ASCII letter first leaves 29 bytes after 14 characters: the 15th
    // does not fit and goes whole to 4E.
    let odd = format!("A{}", "张".repeat(15));
    let split = split_name(&odd, &none).expect("fits");
    assert_eq!((split.name.len(), split.extension.len()), (29, 2));
    assert_eq!(
        decode_name(&split.name, &split.extension).expect("decodes"),
        odd
    );
    // A long foreign name uses both.
    let long = "MUHAMMAD ABDULLAH BIN ABDUL RAHMAN AL SAUD";
    let split = split_name(long, &none).expect("fits 50");
    assert_eq!(split.name, &long.as_bytes()[..30]);
    assert_eq!(
        decode_name(&split.name, &split.extension).expect("ok"),
        long
    );
    let too_long = "X".repeat(51);
    assert_eq!(
        split_name(&too_long, &none),
        Err(TextError::TooLong {
            field: "name",
            found: 51,
            max: 50
        })
    );
}

#[test]
fn decoding_strips_padding_and_refuses_damage() {
    let mut padded = vec![0xD5, 0xC5, 0xC8, 0xFD];
    padded.resize(30, 0);
    assert_eq!(decode_gbk("name", &padded).expect("valid"), "张三");
    assert_eq!(decode_name(&padded, &[0; 20]).expect("valid"), "张三");
    padded[20] = 0x41;
    assert_eq!(
        decode_gbk("name", &padded),
        Err(TextError::PaddingGarbage {
            field: "name",
            offset: 20
        })
    );
    // A lead byte without its trail byte.
    assert!(matches!(
        decode_gbk("name", &[0xD5, 0xC5, 0xC8]),
        Err(TextError::BadGbk { field: "name", .. })
    ));
    assert_eq!(decode_ascii("ssn", b"3101\0\0").expect("ascii"), "3101");
    assert_eq!(
        decode_ascii("ssn", b"31\x0101"),
        Err(TextError::NotAscii {
            field: "ssn",
            byte: 1,
            offset: 2
        })
    );
    assert_eq!(decode_gbk("name", &[0; 30]).expect("empty"), "");
}
