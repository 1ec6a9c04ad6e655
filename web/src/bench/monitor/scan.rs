//! The one-pass reader of the hub's monitor frames for `cardhub bench
//! monitor`: a reading screen receives thousands of changes a second, so
//! it takes the few fields it needs (the frame's type and each change's
//! `at_ms`) without building the JSON.
//!
//! Neighbours: the screens that call it are [`super::screens`]; the
//! frames are described in `docs/monitor-protocol.md` and sent by
//! `web/src/monitor/socket.rs`.

/// The top-level fields of a frame the benchmark looks at.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Scanned<'a> {
    /// `type`.
    pub(super) kind: Option<&'a str>,
    /// `reason` (snapshots).
    pub(super) reason: Option<&'a str>,
    /// `code` (errors).
    pub(super) code: Option<&'a str>,
    /// `fatal: true` (errors).
    pub(super) fatal: bool,
}

/// Reads a compact JSON frame from the hub in one pass without building
/// it: the top-level `type`, `reason`, `code` and `fatal`, and pushes onto
/// `at_ms` the `at_ms` of every object directly in the top-level `changes`
/// array (the entities of a `deltas` frame). Keys elsewhere (an entity's
/// `since_ms`, a nested `detail`, a heartbeat's own `at_ms`) and text
/// inside strings are not taken for them. Strings are returned raw
/// (unescaped): the fields read are plain names.
pub(super) fn scan_frame<'a>(text: &'a str, at_ms: &mut Vec<i64>) -> Scanned<'a> {
    let b = text.as_bytes();
    let mut out = Scanned::default();
    // Bit d is set when the container at depth d is an object.
    let (mut objects, mut depth) = (0u64, 0u32);
    let is_object = |objects: u64, d: u32| d > 0 && d < 64 && objects & (1 << d) != 0;
    let mut expect_key = false;
    let mut in_changes = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                let end = string_end(b, i + 1);
                let s = &text[i + 1..end];
                i = end + 1;
                if !expect_key {
                    continue;
                }
                expect_key = false;
                while i < b.len() && (b[i] == b':' || b[i].is_ascii_whitespace()) {
                    i += 1;
                }
                if depth == 1 {
                    in_changes = s == "changes";
                    let value =
                        || (b.get(i) == Some(&b'"')).then(|| &text[i + 1..string_end(b, i + 1)]);
                    match s {
                        "type" => out.kind = value(),
                        "reason" => out.reason = value(),
                        "code" => out.code = value(),
                        "fatal" => out.fatal = b[i..].starts_with(b"true"),
                        _ => {}
                    }
                } else if depth == 3
                    && in_changes
                    && s == "at_ms"
                    && !is_object(objects, 2)
                    && let Some(n) = leading_integer(&b[i..])
                {
                    at_ms.push(n);
                }
            }
            open @ (b'{' | b'[') => {
                depth += 1;
                if depth < 64 {
                    objects = (objects & !(1 << depth)) | (u64::from(open == b'{') << depth);
                }
                expect_key = open == b'{';
                i += 1;
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                expect_key = false;
                i += 1;
            }
            b',' => {
                expect_key = is_object(objects, depth);
                i += 1;
            }
            _ => i += 1,
        }
    }
    out
}

/// The index of the quote that closes the string starting at `from`
/// (or the end of a truncated text).
fn string_end(b: &[u8], from: usize) -> usize {
    let mut j = from;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return j,
            _ => j += 1,
        }
    }
    b.len()
}

/// The integer at the start of `b` (`-12`, `1796131201456`).
fn leading_integer(b: &[u8]) -> Option<i64> {
    let (negative, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    let len = digits.iter().take_while(|c| c.is_ascii_digit()).count();
    let n: i64 = std::str::from_utf8(&digits[..len]).ok()?.parse().ok()?;
    Some(if negative { -n } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DELTAS: &str = r#"{"v":1,"type":"deltas","epoch":"ab","seq":9,"resumed":false,"changes":[{"kind":"printer","id":"load/printer-0001","seq":8,"state":"error","reason":"card jam \"at_ms\":5","since_ms":100,"at_ms":200,"scope":{"workshop":"load"},"detail":{"hopper":3}},{"kind":"counter","id":"c\\","seq":9,"state":"ok","since_ms":300,"at_ms":-4,"detail":{"values":{"at_ms":7}}}]}"#;

    #[test]
    fn the_scanner_takes_each_changes_at_ms_and_nothing_else() {
        let mut at = Vec::new();
        let frame = scan_frame(DELTAS, &mut at);
        assert_eq!(frame.kind, Some("deltas"));
        assert_eq!(at, [200, -4]);
        let value: serde_json::Value = serde_json::from_str(DELTAS).unwrap();
        let from_serde: Vec<i64> = value["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["at_ms"].as_i64().unwrap())
            .collect();
        assert_eq!(at, from_serde);
    }

    #[test]
    fn the_scanner_ignores_snapshots_and_heartbeats_at_ms_and_reads_their_fields() {
        let mut at = Vec::new();
        let snapshot = r#"{"v":1,"type":"snapshot","epoch":"ab","seq":9,"reason":"resync","entities":[{"kind":"printer","id":"p","seq":1,"state":"ok","since_ms":1,"at_ms":2,"detail":{}}]}"#;
        let frame = scan_frame(snapshot, &mut at);
        assert_eq!(
            (frame.kind, frame.reason),
            (Some("snapshot"), Some("resync"))
        );
        assert!(at.is_empty());
        let frame = scan_frame(
            r#"{"v":1,"type":"heartbeat","at_ms":1796131201456}"#,
            &mut at,
        );
        assert_eq!(frame.kind, Some("heartbeat"));
        assert!(at.is_empty());
        let error = r#"{"v":1,"type":"error","code":"too-slow","message":"x","fatal":true}"#;
        let frame = scan_frame(error, &mut at);
        assert_eq!((frame.code, frame.fatal), (Some("too-slow"), true));
        let frame = scan_frame(r#"{"v":1,"type":"deltas","changes":[{"at_ms":1"#, &mut at);
        assert_eq!(
            (frame.kind, at.as_slice()),
            (Some("deltas"), [1].as_slice())
        );
    }
}
