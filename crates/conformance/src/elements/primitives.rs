//! Lexical rules of the FHIR R4 string-valued primitives
//! (<https://hl7.org/fhir/R4/datatypes.html#primitive>), written by hand after the regexes
//! in the official datatype definitions, so that a value of the right JSON kind but the
//! wrong form (`"birthDate": "yesterday"`) is caught too.
//!
//! Deliberately lenient where the official regex is known to be wrong or where real data
//! commonly differs harmlessly: `base64Binary` accepts `/` and whitespace anywhere (the R4
//! regex forgets `/`), `uri`/`url`/`canonical` only refuse whitespace.

/// Checks the string form of a primitive of type `type_code`; `Err` says what is expected.
/// Types without a lexical rule here (`string`, `markdown`, `xhtml`) accept anything.
pub(super) fn check(type_code: &str, s: &str) -> Result<(), &'static str> {
    let ok = match type_code {
        "date" => is_date(s),
        "dateTime" => is_date_time(s),
        "instant" => is_instant(s),
        "time" => is_time(s),
        "code" => is_code(s),
        "id" => is_id(s),
        "oid" => is_oid(s),
        "uuid" => is_uuid(s),
        "uri" | "url" | "canonical" => !s.bytes().any(|b| b.is_ascii_whitespace()),
        "base64Binary" => s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b) || b.is_ascii_whitespace()),
        _ => true,
    };
    if ok {
        return Ok(());
    }
    Err(match type_code {
        "date" => "a date: YYYY, YYYY-MM or YYYY-MM-DD",
        "dateTime" => {
            "a dateTime: YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss(.sss) with a time zone"
        }
        "instant" => "an instant: YYYY-MM-DDThh:mm:ss(.sss) with a time zone",
        "time" => "a time: hh:mm:ss(.sss)",
        "code" => "a code: no leading, trailing or repeated whitespace",
        "id" => "an id: 1 to 64 of A-Z a-z 0-9 - .",
        "oid" => "an oid: urn:oid:1.2.3…",
        "uuid" => "a uuid: urn:uuid: and 36 lowercase hex characters and dashes",
        "base64Binary" => "base64 text",
        _ => "a URI without whitespace",
    })
}

/// `n` ASCII digits at the start of `s`, and the rest.
fn digits(s: &str, n: usize) -> Option<(u32, &str)> {
    let head = s.get(..n)?;
    if !head.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((head.parse().ok()?, &s[n..]))
}

/// `YYYY[-MM[-DD]]`; returns what follows. Year 0000 is not a year.
fn date_prefix(s: &str) -> Option<(&str, bool)> {
    let (year, rest) = digits(s, 4)?;
    if year == 0 {
        return None;
    }
    let Some(rest) = rest.strip_prefix('-') else {
        return Some((rest, false));
    };
    let (month, rest) = digits(rest, 2)?;
    if !(1..=12).contains(&month) {
        return None;
    }
    let Some(rest) = rest.strip_prefix('-') else {
        return Some((rest, false));
    };
    let (day, rest) = digits(rest, 2)?;
    if !(1..=31).contains(&day) {
        return None;
    }
    Some((rest, true))
}

fn is_date(s: &str) -> bool {
    matches!(date_prefix(s), Some(("", _)))
}

/// `hh:mm:ss(.s+)`; returns what follows.
fn time_prefix(s: &str) -> Option<&str> {
    let (h, rest) = digits(s, 2)?;
    let (m, rest) = digits(rest.strip_prefix(':')?, 2)?;
    let (sec, rest) = digits(rest.strip_prefix(':')?, 2)?;
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    match rest.strip_prefix('.') {
        Some(frac) => {
            let n = frac.bytes().take_while(u8::is_ascii_digit).count();
            (n > 0).then(|| &frac[n..])
        }
        None => Some(rest),
    }
}

fn is_time(s: &str) -> bool {
    time_prefix(s) == Some("")
}

/// `Z` or `±hh:mm` (up to 14:00).
fn is_zone(s: &str) -> bool {
    if s == "Z" {
        return true;
    }
    let Some(rest) = s.strip_prefix('+').or_else(|| s.strip_prefix('-')) else {
        return false;
    };
    let Some((h, rest)) = digits(rest, 2) else {
        return false;
    };
    let Some((m, rest)) = rest.strip_prefix(':').and_then(|r| digits(r, 2)) else {
        return false;
    };
    rest.is_empty() && m <= 59 && (h < 14 || (h == 14 && m == 0))
}

fn is_date_time(s: &str) -> bool {
    match date_prefix(s) {
        Some(("", _)) => true,
        Some((rest, true)) => rest
            .strip_prefix('T')
            .and_then(time_prefix)
            .is_some_and(is_zone),
        _ => false,
    }
}

fn is_instant(s: &str) -> bool {
    matches!(date_prefix(s), Some((rest, true)) if rest.strip_prefix('T').and_then(time_prefix).is_some_and(is_zone))
}

fn is_code(s: &str) -> bool {
    // `\s` in the official regexes is ASCII whitespace: a no-break space is allowed (and
    // occurs in the official v2-0550 code system).
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_whitespace())
        && !s.ends_with(|c: char| c.is_ascii_whitespace())
        && !s
            .as_bytes()
            .windows(2)
            .any(|w| w[0].is_ascii_whitespace() && w[1].is_ascii_whitespace())
}

fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

fn is_oid(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("urn:oid:") else {
        return false;
    };
    let mut arcs = rest.split('.');
    let first_ok = matches!(arcs.next(), Some("0" | "1" | "2"));
    let mut count = 0;
    let rest_ok = arcs.all(|a| {
        count += 1;
        !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()) && (a == "0" || !a.starts_with('0'))
    });
    first_ok && count > 0 && rest_ok
}

fn is_uuid(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("urn:uuid:") else {
        return false;
    };
    let groups: Vec<&str> = rest.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| {
            g.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn primitive_forms_follow_the_r4_rules() {
        let valid = [
            ("date", "2024"),
            ("date", "2024-02"),
            ("date", "2024-02-29"),
            ("dateTime", "2024"),
            ("dateTime", "2024-02-29"),
            ("dateTime", "2024-02-29T13:01:02Z"),
            ("dateTime", "2024-02-29T13:01:02.123+14:00"),
            ("dateTime", "2015-02-07T13:28:17-05:00"),
            ("instant", "2024-02-29T13:01:02.5Z"),
            ("time", "23:59:60"),
            ("time", "00:00:00.000"),
            ("code", "a b"),
            ("code", "\u{a0}"),
            ("code", "http://x"),
            ("id", "a-B.9"),
            ("oid", "urn:oid:2.16.840.1.113883"),
            ("uuid", "urn:uuid:c757873d-ec9a-4326-a141-556f43239520"),
            ("uri", "http://x/y?z#w"),
            ("base64Binary", "aGVsbG8/+w==\n"),
            ("string", "  anything "),
            ("markdown", "*x*"),
        ];
        for (ty, s) in valid {
            assert_eq!(check(ty, s), Ok(()), "{ty} {s:?}");
        }
        let invalid = [
            ("date", "yesterday"),
            ("date", "2024-13"),
            ("date", "2024-02-32"),
            ("date", "0000"),
            ("date", "2024-2-1"),
            ("date", "2024-02-29T10:00:00Z"),
            ("dateTime", "2024-02-29T13:01:02"),
            ("dateTime", "2024-02T13:01:02Z"),
            ("dateTime", "2024-02-29T25:00:00Z"),
            ("dateTime", "2024-02-29T10:00:00+15:00"),
            ("instant", "2024-02-29"),
            ("instant", "2024-02-29T13:01:02"),
            ("time", "24:00:00"),
            ("time", "10:00"),
            ("time", "10:00:00."),
            ("code", " a"),
            ("code", "a "),
            ("code", "a  b"),
            ("code", ""),
            ("id", "a_b"),
            ("id", &"x".repeat(65)),
            ("oid", "urn:oid:3.1"),
            ("oid", "urn:oid:1"),
            ("oid", "urn:oid:1.02"),
            ("uuid", "urn:uuid:C757873D-EC9A-4326-A141-556F43239520"),
            ("uuid", "c757873d-ec9a-4326-a141-556f43239520"),
            ("uri", "http://x y"),
            ("base64Binary", "a*b"),
        ];
        for (ty, s) in invalid {
            assert!(check(ty, s).is_err(), "{ty} {s:?} should be invalid");
        }
    }
}
