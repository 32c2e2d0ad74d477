//! Typed search values other than dates (<https://hl7.org/fhir/R4/search.html#ptypes>):
//! comparison prefixes, decimals with implicit precision, tokens, references, quantities and
//! `near` coordinates. Every parser takes one already-unescaped OR-alternative.

use crate::SearchError;

/// A comparison prefix (<https://hl7.org/fhir/R4/search.html#prefix>); `eq` when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Prefix {
    #[default]
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Sa,
    Eb,
    Ap,
}

impl Prefix {
    /// The two-letter spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Prefix::Eq => "eq",
            Prefix::Ne => "ne",
            Prefix::Gt => "gt",
            Prefix::Lt => "lt",
            Prefix::Ge => "ge",
            Prefix::Le => "le",
            Prefix::Sa => "sa",
            Prefix::Eb => "eb",
            Prefix::Ap => "ap",
        }
    }

    /// Splits a leading prefix off `value`. Two leading letters that are not a prefix are an
    /// error (a number, date or quantity never starts with a letter).
    pub fn split<'v>(kind: &'static str, value: &'v str) -> Result<(Prefix, &'v str), SearchError> {
        let head: String = value.chars().take(2).collect();
        if head.len() < 2 || !head.chars().all(|c| c.is_ascii_alphabetic()) {
            return Ok((Prefix::Eq, value));
        }
        let prefix = match head.as_str() {
            "eq" => Prefix::Eq,
            "ne" => Prefix::Ne,
            "gt" => Prefix::Gt,
            "lt" => Prefix::Lt,
            "ge" => Prefix::Ge,
            "le" => Prefix::Le,
            "sa" => Prefix::Sa,
            "eb" => Prefix::Eb,
            "ap" => Prefix::Ap,
            _ => {
                return Err(SearchError::value(
                    kind,
                    value,
                    format!(
                        "unknown prefix `{head}` (expected eq, ne, gt, lt, ge, le, sa, eb or ap)"
                    ),
                ))
            }
        };
        Ok((prefix, &value[2..]))
    }

    /// Whether a resource value occupying `[target_low, target_high)` matches a search value
    /// occupying `[search_low, search_high)` under this prefix, following the range rules of
    /// <https://hl7.org/fhir/R4/search.html#prefix>. `ap` is treated as "overlaps"; widen the
    /// search range first with [`Decimal::approximate`] or `DateRange::approximate`.
    pub fn matches<T: PartialOrd>(self, search: (T, T), target: (T, T)) -> bool {
        let (s_lo, s_hi) = search;
        let (t_lo, t_hi) = target;
        let contains = s_lo <= t_lo && t_hi <= s_hi;
        match self {
            Prefix::Eq => contains,
            Prefix::Ne => !contains,
            Prefix::Gt => t_hi > s_hi,
            Prefix::Lt => t_lo < s_lo,
            Prefix::Ge => t_hi > s_hi || contains,
            Prefix::Le => t_lo < s_lo || contains,
            Prefix::Sa => t_lo >= s_hi,
            Prefix::Eb => t_hi <= s_lo,
            Prefix::Ap => t_lo < s_hi && s_lo < t_hi,
        }
    }
}

/// A decimal as written, its value, and the range its precision implies
/// (<https://hl7.org/fhir/R4/search.html#number>: `100` means `[99.5, 100.5)`, `1e2` means
/// `[50, 150)`, `100.00` means `[99.995, 100.005)`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Decimal {
    pub text: String,
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

impl Decimal {
    /// Parses a FHIR decimal (`-?digits(.digits)?([eE][+-]?digits)?`).
    pub fn parse(kind: &'static str, s: &str) -> Result<Decimal, SearchError> {
        let bad = |reason: &str| SearchError::value(kind, s, reason);
        let (mantissa, exponent) = match s.split_once(['e', 'E']) {
            Some((m, e)) => {
                let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad("exponent must be digits"));
                }
                (
                    m,
                    e.parse::<i32>().map_err(|_| bad("exponent out of range"))?,
                )
            }
            None => (s, 0),
        };
        let unsigned = mantissa.strip_prefix(['-', '+']).unwrap_or(mantissa);
        let (int, frac) = match unsigned.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (unsigned, None),
        };
        if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("expected a number such as 12, -3.5 or 1e3"));
        }
        if let Some(f) = frac {
            if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("digits must follow the decimal point"));
            }
        }
        let value: f64 = s.parse().map_err(|_| bad("not a number"))?;
        if !value.is_finite() {
            return Err(bad("number out of range"));
        }
        let decimals =
            i32::try_from(frac.map_or(0, str::len)).map_err(|_| bad("too many digits"))?;
        let half = 0.5 * 10f64.powi(exponent.saturating_sub(decimals));
        Ok(Decimal {
            text: s.to_owned(),
            value,
            low: value - half,
            high: value + half,
        })
    }

    /// The `[low, high)` range for the `ap` prefix: the precision range widened by 10% of the
    /// value (<https://hl7.org/fhir/R4/search.html#prefix>).
    pub fn approximate(&self) -> (f64, f64) {
        let widen = self.value.abs() * 0.1;
        (self.low - widen, self.high + widen)
    }
}

/// The system part of a token search.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum TokenSystem {
    /// `code`: any system (or none).
    Any,
    /// `|code`: only values without a system.
    None,
    /// `system|code` or `system|`.
    Is(String),
}

/// A token search value (<https://hl7.org/fhir/R4/search.html#token>).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenValue {
    pub system: TokenSystem,
    /// `None` for `system|` (any code in the system).
    pub code: Option<String>,
}

impl TokenValue {
    /// Parses `code`, `system|code`, `|code` or `system|` from an escaped alternative.
    pub fn parse(raw: &str) -> Result<TokenValue, SearchError> {
        let parts = crate::text::split_unescaped(raw, '|');
        let unescaped = crate::text::unescape(raw)?;
        let bad = |reason: &str| SearchError::value("token", &unescaped, reason);
        match parts[..] {
            [""] => Err(bad("empty token")),
            [code] => Ok(TokenValue {
                system: TokenSystem::Any,
                code: Some(crate::text::unescape(code)?),
            }),
            ["", ""] => Err(bad("neither a system nor a code around `|`")),
            ["", code] => Ok(TokenValue {
                system: TokenSystem::None,
                code: Some(crate::text::unescape(code)?),
            }),
            [system, code] => Ok(TokenValue {
                system: TokenSystem::Is(crate::text::unescape(system)?),
                code: if code.is_empty() {
                    None
                } else {
                    Some(crate::text::unescape(code)?)
                },
            }),
            _ => Err(bad(
                "more than one unescaped `|` (escape a literal one as `\\|`)",
            )),
        }
    }
}

/// An identifier-type search (`:of-type`, `type-system|type-code|value`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OfTypeValue {
    pub type_system: String,
    pub type_code: String,
    pub value: String,
}

impl OfTypeValue {
    /// Parses `system|code|value`; all three parts are required.
    pub fn parse(raw: &str) -> Result<OfTypeValue, SearchError> {
        let parts = crate::text::split_unescaped(raw, '|');
        match parts[..] {
            [s, c, v] if !s.is_empty() && !c.is_empty() && !v.is_empty() => Ok(OfTypeValue {
                type_system: crate::text::unescape(s)?,
                type_code: crate::text::unescape(c)?,
                value: crate::text::unescape(v)?,
            }),
            _ => Err(SearchError::value(
                "of-type token",
                &crate::text::unescape(raw)?,
                "expected type-system|type-code|value, all three non-empty",
            )),
        }
    }
}

/// A reference search value (<https://hl7.org/fhir/R4/search.html#reference>).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct ReferenceValue {
    /// The resource type, when given (`Type/id`, an absolute URL ending in one, or the `:Type`
    /// modifier).
    pub resource_type: Option<String>,
    /// The logical id, when one can be read from the value.
    pub id: Option<String>,
    /// `_history` version, when given.
    pub version: Option<String>,
    /// The whole value when it is an absolute URL (or URN / canonical), compared literally to
    /// references stored as URLs.
    pub url: Option<String>,
}

/// Whether `s` is a FHIR resource type name in form (`[A-Z][A-Za-z]*`).
pub fn is_type_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase()) && chars.all(|c| c.is_ascii_alphabetic())
}

/// Whether `s` is a FHIR logical id (`[A-Za-z0-9\-\.]{1,64}`).
pub fn is_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

impl ReferenceValue {
    /// Parses `id`, `Type/id`, `Type/id/_history/n` or an absolute URL. `type_modifier` is
    /// the `:Type` modifier, which a `Type/` in the value must agree with.
    pub fn parse(value: &str, type_modifier: Option<&str>) -> Result<ReferenceValue, SearchError> {
        let bad = |reason: String| SearchError::value("reference", value, reason);
        if value.is_empty() {
            return Err(bad("empty reference".to_owned()));
        }
        let absolute = value.contains("://") || value.starts_with("urn:");
        let mut out = if absolute {
            let mut out = ReferenceValue {
                url: Some(value.to_owned()),
                ..ReferenceValue::default()
            };
            // Read `…/Type/id[/_history/v]` off the end when the URL is a RESTful one.
            let path = value.split(['?', '#']).next().unwrap_or(value);
            let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
            let tail = match segs[..] {
                [.., t, i, "_history", v] => Some((t, i, Some(v))),
                [.., t, i] => Some((t, i, None)),
                _ => None,
            };
            if let Some((t, i, v)) = tail.filter(|(t, i, _)| is_type_name(t) && is_id(i)) {
                out.resource_type = Some(t.to_owned());
                out.id = Some(i.to_owned());
                out.version = v.map(str::to_owned);
            }
            out
        } else {
            let segs: Vec<&str> = value.split('/').collect();
            let (t, i, v) = match segs[..] {
                [i] => (None, i, None),
                [t, i] => (Some(t), i, None),
                [t, i, "_history", v] => (Some(t), i, Some(v)),
                _ => {
                    return Err(bad(
                        "expected id, Type/id, Type/id/_history/version or an absolute URL"
                            .to_owned(),
                    ))
                }
            };
            if let Some(t) = t {
                if !is_type_name(t) {
                    return Err(bad(format!("`{t}` is not a resource type name")));
                }
            }
            if !is_id(i) {
                return Err(bad(format!(
                    "`{i}` is not a valid id (1-64 of A-Z a-z 0-9 - .)"
                )));
            }
            if let Some(v) = v {
                if !is_id(v) {
                    return Err(bad(format!("`{v}` is not a valid version id")));
                }
            }
            ReferenceValue {
                resource_type: t.map(str::to_owned),
                id: Some(i.to_owned()),
                version: v.map(str::to_owned),
                url: None,
            }
        };
        if let Some(m) = type_modifier {
            match &out.resource_type {
                Some(t) if t != m => {
                    return Err(bad(format!("type `{t}` contradicts the `:{m}` modifier")))
                }
                _ => out.resource_type = Some(m.to_owned()),
            }
        }
        Ok(out)
    }
}

/// A quantity search value: `[prefix]number[|system|code]` or `number||code`
/// (<https://hl7.org/fhir/R4/search.html#quantity>).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct QuantityValue {
    pub prefix: Prefix,
    pub number: Decimal,
    /// `None` when not given (any system).
    pub system: Option<String>,
    /// Unit code (or unit text when no system is given); `None` for any unit.
    pub code: Option<String>,
}

impl QuantityValue {
    /// Parses one escaped alternative.
    pub fn parse(raw: &str) -> Result<QuantityValue, SearchError> {
        let parts = crate::text::split_unescaped(raw, '|');
        let (number, system, code) = match parts[..] {
            [n] => (n, "", ""),
            [n, s, c] => (n, s, c),
            _ => {
                return Err(SearchError::value(
                    "quantity",
                    &crate::text::unescape(raw)?,
                    "expected number, number|system|code or number||code",
                ))
            }
        };
        let number = crate::text::unescape(number)?;
        let (prefix, rest) = Prefix::split("quantity", &number)?;
        let opt = |s: &str| -> Result<Option<String>, SearchError> {
            Ok(if s.is_empty() {
                None
            } else {
                Some(crate::text::unescape(s)?)
            })
        };
        Ok(QuantityValue {
            prefix,
            number: Decimal::parse("quantity", rest)?,
            system: opt(system)?,
            code: opt(code)?,
        })
    }
}

/// `near=latitude|longitude|distance|unit` on Location
/// (<https://hl7.org/fhir/R4/location.html#positional>).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NearValue {
    pub latitude: f64,
    pub longitude: f64,
    /// The radius in kilometres, when given.
    pub distance_km: Option<f64>,
}

impl NearValue {
    /// Parses `lat|long[|distance[|unit]]`; units are `km` (the default), `mi` (or UCUM
    /// `[mi_i]`) and `m`.
    pub fn parse(value: &str) -> Result<NearValue, SearchError> {
        let bad = |reason: String| SearchError::value("near", value, reason);
        let parts: Vec<&str> = value.split('|').collect();
        if !(2..=4).contains(&parts.len()) {
            return Err(bad(
                "expected latitude|longitude[|distance[|unit]]".to_owned()
            ));
        }
        let number = |s: &str, what: &str| -> Result<f64, SearchError> {
            Decimal::parse("near", s)
                .map(|d| d.value)
                .map_err(|_| bad(format!("{what} `{s}` is not a number")))
        };
        let latitude = number(parts[0], "latitude")?;
        let longitude = number(parts[1], "longitude")?;
        if !(-90.0..=90.0).contains(&latitude) {
            return Err(bad(format!("latitude {latitude} is outside -90..90")));
        }
        if !(-180.0..=180.0).contains(&longitude) {
            return Err(bad(format!("longitude {longitude} is outside -180..180")));
        }
        let distance = match parts.get(2).filter(|d| !d.is_empty()) {
            None => None,
            Some(d) => {
                let d = number(d, "distance")?;
                if d < 0.0 {
                    return Err(bad(format!("distance {d} is negative")));
                }
                Some(d)
            }
        };
        let factor = match parts.get(3).copied().unwrap_or("km") {
            "" | "km" => 1.0,
            "mi" | "[mi_i]" => 1.609_344,
            "m" => 0.001,
            other => return Err(bad(format!("unit `{other}` is not km, mi or m"))),
        };
        Ok(NearValue {
            latitude,
            longitude,
            distance_km: distance.map(|d| d * factor),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err<T: std::fmt::Debug>(r: Result<T, SearchError>) -> String {
        match r {
            Ok(v) => format!("unexpectedly Ok({v:?})"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn prefixes_are_split_off() {
        let cases = [
            ("2020", Prefix::Eq, "2020"),
            ("eq2020", Prefix::Eq, "2020"),
            ("ne5", Prefix::Ne, "5"),
            ("gt5", Prefix::Gt, "5"),
            ("lt5", Prefix::Lt, "5"),
            ("ge5", Prefix::Ge, "5"),
            ("le5", Prefix::Le, "5"),
            ("sa5", Prefix::Sa, "5"),
            ("eb5", Prefix::Eb, "5"),
            ("ap5", Prefix::Ap, "5"),
            ("-5", Prefix::Eq, "-5"),
        ];
        for (input, prefix, rest) in cases {
            assert_eq!(
                Prefix::split("number", input),
                Ok((prefix, rest)),
                "{input}"
            );
        }
        assert_eq!(
            err(Prefix::split("number", "xx5")),
            "invalid number `xx5`: unknown prefix `xx` (expected eq, ne, gt, lt, ge, le, sa, eb or ap)"
        );
    }

    #[test]
    fn prefix_range_semantics() {
        // search [10, 20); targets chosen to sit inside, below, above and across it.
        let s = (10, 20);
        let inside = (12, 15);
        let below = (0, 5);
        let above = (25, 30);
        let across_high = (15, 25);
        let across_low = (5, 15);
        let cases = [
            (Prefix::Eq, [true, false, false, false, false]),
            (Prefix::Ne, [false, true, true, true, true]),
            (Prefix::Gt, [false, false, true, true, false]),
            (Prefix::Lt, [false, true, false, false, true]),
            (Prefix::Ge, [true, false, true, true, false]),
            (Prefix::Le, [true, true, false, false, true]),
            (Prefix::Sa, [false, false, true, false, false]),
            (Prefix::Eb, [false, true, false, false, false]),
            (Prefix::Ap, [true, false, false, true, true]),
        ];
        for (prefix, want) in cases {
            let got = [inside, below, above, across_high, across_low].map(|t| prefix.matches(s, t));
            assert_eq!(got, want, "{prefix:?}");
        }
    }

    #[test]
    fn decimals_carry_implicit_precision() {
        let cases = [
            ("100", 100.0, 99.5, 100.5),
            ("100.00", 100.0, 99.995, 100.005),
            ("-3.5", -3.5, -3.55, -3.45),
            ("1e2", 100.0, 50.0, 150.0),
            ("1.5E-1", 0.15, 0.145, 0.155),
            ("0", 0.0, -0.5, 0.5),
        ];
        for (input, value, low, high) in cases {
            let d = Decimal::parse("number", input).map_err(|e| e.to_string());
            let Ok(d) = d else { panic!("{input}: {d:?}") };
            assert!((d.value - value).abs() < 1e-9, "{input} value {}", d.value);
            assert!((d.low - low).abs() < 1e-9, "{input} low {}", d.low);
            assert!((d.high - high).abs() < 1e-9, "{input} high {}", d.high);
        }
        // Extreme exponents must not overflow the precision arithmetic.
        let tiny = Decimal::parse("number", "1.5e-2147483648").map(|d| d.value);
        assert_eq!(tiny, Ok(0.0));
        let (lo, hi) = Decimal::parse("number", "100")
            .map(|d| d.approximate())
            .unwrap_or_default();
        assert!(
            (lo - 89.5).abs() < 1e-9 && (hi - 110.5).abs() < 1e-9,
            "{lo} {hi}"
        );
    }

    #[test]
    fn malformed_decimals_say_what_is_wrong() {
        let cases = [
            (
                "",
                "invalid number ``: expected a number such as 12, -3.5 or 1e3",
            ),
            (
                "abc",
                "invalid number `abc`: expected a number such as 12, -3.5 or 1e3",
            ),
            (
                ".5",
                "invalid number `.5`: expected a number such as 12, -3.5 or 1e3",
            ),
            (
                "5.",
                "invalid number `5.`: digits must follow the decimal point",
            ),
            ("1e", "invalid number `1e`: exponent must be digits"),
            ("1e999", "invalid number `1e999`: number out of range"),
            (
                "1,5",
                "invalid number `1,5`: expected a number such as 12, -3.5 or 1e3",
            ),
            (
                "NaN",
                "invalid number `NaN`: expected a number such as 12, -3.5 or 1e3",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(err(Decimal::parse("number", input)), want, "{input}");
        }
    }

    #[test]
    fn tokens_parse_every_system_form() {
        let tok = |system: TokenSystem, code: Option<&str>| TokenValue {
            system,
            code: code.map(str::to_owned),
        };
        let cases = [
            ("abc", tok(TokenSystem::Any, Some("abc"))),
            (
                "http://nucc.org|207Q00000X",
                tok(
                    TokenSystem::Is("http://nucc.org".into()),
                    Some("207Q00000X"),
                ),
            ),
            ("|abc", tok(TokenSystem::None, Some("abc"))),
            (
                "http://sys|",
                tok(TokenSystem::Is("http://sys".into()), None),
            ),
            (r"a\|b", tok(TokenSystem::Any, Some("a|b"))),
            (r"s|c\,d", tok(TokenSystem::Is("s".into()), Some("c,d"))),
        ];
        for (input, want) in cases {
            assert_eq!(TokenValue::parse(input), Ok(want), "{input}");
        }
        let bad = [
            ("", "invalid token ``: empty token"),
            ("|", "invalid token `|`: neither a system nor a code around `|`"),
            ("a|b|c", "invalid token `a|b|c`: more than one unescaped `|` (escape a literal one as `\\|`)"),
        ];
        for (input, want) in bad {
            assert_eq!(err(TokenValue::parse(input)), want, "{input}");
        }
    }

    #[test]
    fn of_type_needs_three_parts() {
        assert_eq!(
            OfTypeValue::parse("http://terminology.hl7.org/CodeSystem/v2-0203|NPI|1234567893"),
            Ok(OfTypeValue {
                type_system: "http://terminology.hl7.org/CodeSystem/v2-0203".into(),
                type_code: "NPI".into(),
                value: "1234567893".into()
            })
        );
        assert_eq!(
            err(OfTypeValue::parse("sys|NPI")),
            "invalid of-type token `sys|NPI`: expected type-system|type-code|value, all three non-empty"
        );
    }

    #[test]
    fn references_parse_every_form() {
        let r =
            |t: Option<&str>, i: Option<&str>, v: Option<&str>, u: Option<&str>| ReferenceValue {
                resource_type: t.map(str::to_owned),
                id: i.map(str::to_owned),
                version: v.map(str::to_owned),
                url: u.map(str::to_owned),
            };
        let cases = [
            ("123", None, r(None, Some("123"), None, None)),
            (
                "Organization/org-1",
                None,
                r(Some("Organization"), Some("org-1"), None, None),
            ),
            (
                "Organization/org-1/_history/3",
                None,
                r(Some("Organization"), Some("org-1"), Some("3"), None),
            ),
            (
                "abc",
                Some("Practitioner"),
                r(Some("Practitioner"), Some("abc"), None, None),
            ),
            (
                "http://example.org/fhir/Organization/o1",
                None,
                r(
                    Some("Organization"),
                    Some("o1"),
                    None,
                    Some("http://example.org/fhir/Organization/o1"),
                ),
            ),
            (
                "https://x.org/fhir/Location/l/_history/2",
                None,
                r(
                    Some("Location"),
                    Some("l"),
                    Some("2"),
                    Some("https://x.org/fhir/Location/l/_history/2"),
                ),
            ),
            (
                "urn:uuid:1234",
                None,
                r(None, None, None, Some("urn:uuid:1234")),
            ),
            (
                "http://hl7.org/fhir/ValueSet/x|4.0.1",
                None,
                r(
                    None,
                    None,
                    None,
                    Some("http://hl7.org/fhir/ValueSet/x|4.0.1"),
                ),
            ),
        ];
        for (input, modifier, want) in cases {
            assert_eq!(ReferenceValue::parse(input, modifier), Ok(want), "{input}");
        }
        let bad = [
            ("", None, "invalid reference ``: empty reference"),
            ("organization/1", None, "invalid reference `organization/1`: `organization` is not a resource type name"),
            ("Organization/a b", None, "invalid reference `Organization/a b`: `a b` is not a valid id (1-64 of A-Z a-z 0-9 - .)"),
            ("Organization/", None, "invalid reference `Organization/`: `` is not a valid id (1-64 of A-Z a-z 0-9 - .)"),
            ("A/b/c", None, "invalid reference `A/b/c`: expected id, Type/id, Type/id/_history/version or an absolute URL"),
            ("Location/1", Some("Organization"), "invalid reference `Location/1`: type `Location` contradicts the `:Organization` modifier"),
        ];
        for (input, modifier, want) in bad {
            assert_eq!(err(ReferenceValue::parse(input, modifier)), want, "{input}");
        }
    }

    #[test]
    fn quantities_parse_with_prefix_system_and_code() {
        let q = QuantityValue::parse("5.4|http://unitsofmeasure.org|mg").map_err(|e| e.to_string());
        let Ok(q) = q else { panic!("{q:?}") };
        assert_eq!((q.prefix, q.number.text.as_str()), (Prefix::Eq, "5.4"));
        assert_eq!(
            (q.system.as_deref(), q.code.as_deref()),
            (Some("http://unitsofmeasure.org"), Some("mg"))
        );
        let q = QuantityValue::parse("le5.4||mg").map_err(|e| e.to_string());
        let Ok(q) = q else { panic!("{q:?}") };
        assert_eq!(
            (q.prefix, q.system, q.code.as_deref()),
            (Prefix::Le, None, Some("mg"))
        );
        let q = QuantityValue::parse("gt100").map_err(|e| e.to_string());
        let Ok(q) = q else { panic!("{q:?}") };
        assert_eq!(
            (q.prefix, q.number.value, q.system, q.code),
            (Prefix::Gt, 100.0, None, None)
        );
        let bad = [
            ("5|mg", "invalid quantity `5|mg`: expected number, number|system|code or number||code"),
            ("mg|s|c", "invalid quantity `mg`: unknown prefix `mg` (expected eq, ne, gt, lt, ge, le, sa, eb or ap)"),
            ("x5||mg", "invalid quantity `x5`: expected a number such as 12, -3.5 or 1e3"),
        ];
        for (input, want) in bad {
            assert_eq!(err(QuantityValue::parse(input)), want, "{input}");
        }
    }

    #[test]
    fn near_parses_units_and_rejects_bad_coordinates() {
        let cases = [
            ("42.25|-83.69", None),
            ("42.25|-83.69|10", Some(10.0)),
            ("42.25|-83.69|10|km", Some(10.0)),
            ("42.25|-83.69|10|mi", Some(16.093_44)),
            ("42.25|-83.69|1500|m", Some(1.5)),
            ("42.25|-83.69|2|[mi_i]", Some(3.218_688)),
        ];
        for (input, want) in cases {
            let n = NearValue::parse(input).map_err(|e| e.to_string());
            let Ok(n) = n else { panic!("{input}: {n:?}") };
            assert_eq!((n.latitude, n.longitude), (42.25, -83.69));
            match (n.distance_km, want) {
                (Some(a), Some(b)) => assert!((a - b).abs() < 1e-9, "{input}: {a}"),
                (a, b) => assert_eq!(a, b, "{input}"),
            }
        }
        let bad = [
            (
                "42.25",
                "invalid near `42.25`: expected latitude|longitude[|distance[|unit]]",
            ),
            (
                "91|0",
                "invalid near `91|0`: latitude 91 is outside -90..90",
            ),
            (
                "0|181",
                "invalid near `0|181`: longitude 181 is outside -180..180",
            ),
            ("x|0", "invalid near `x|0`: latitude `x` is not a number"),
            ("0|0|-1", "invalid near `0|0|-1`: distance -1 is negative"),
            (
                "0|0|1|ft",
                "invalid near `0|0|1|ft`: unit `ft` is not km, mi or m",
            ),
            (
                "0|0|1|km|x",
                "invalid near `0|0|1|km|x`: expected latitude|longitude[|distance[|unit]]",
            ),
        ];
        for (input, want) in bad {
            assert_eq!(err(NearValue::parse(input)), want, "{input}");
        }
    }
}
