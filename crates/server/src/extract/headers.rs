//! Conditional-request and preference headers (<https://hl7.org/fhir/R4/http.html>):
//! If-Match, If-None-Match, If-Modified-Since, If-None-Exist and Prefer.

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts, HeaderMap};
use chrono::{DateTime, Utc};

use crate::error::AppError;

/// Parses a version ETag: `W/"3"`, `"3"` or `3`.
pub fn parse_etag(raw: &str) -> Option<i64> {
    let s = raw.trim();
    let s = s.strip_prefix("W/").unwrap_or(s);
    let s = s
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s);
    s.parse::<i64>().ok().filter(|n| *n > 0)
}

fn header_str<'a>(
    headers: &'a HeaderMap,
    name: &header::HeaderName,
) -> Result<Option<&'a str>, AppError> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map_err(|_| AppError::invalid(format!("header {name} is not readable text")))
        })
        .transpose()
}

/// The conditional headers of a request.
#[derive(Debug, Default)]
pub struct Conditional {
    /// `If-Match` version.
    pub if_match: Option<i64>,
    /// `If-None-Match`: versions (empty with `any` for `*`).
    pub if_none_match: Vec<i64>,
    pub if_none_match_any: bool,
    pub if_modified_since: Option<DateTime<Utc>>,
    /// `If-None-Exist` search criteria (conditional create).
    pub if_none_exist: Option<String>,
}

impl Conditional {
    /// True when a read of version `version`, last changed at `last_updated`, can be answered
    /// with 304 Not Modified.
    pub fn not_modified(&self, version: i64, last_updated: DateTime<Utc>) -> bool {
        if self.if_none_match_any || self.if_none_match.contains(&version) {
            return true;
        }
        // HTTP dates have second precision: compare at that precision.
        match self.if_modified_since {
            Some(since) if self.if_none_match.is_empty() => {
                last_updated.timestamp() <= since.timestamp()
            }
            _ => false,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Conditional {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        let h = &parts.headers;
        let mut c = Conditional::default();
        if let Some(v) = header_str(h, &header::IF_MATCH)? {
            c.if_match = Some(parse_etag(v).ok_or_else(|| {
                AppError::invalid(format!(
                    "If-Match {v:?} is not a version ETag such as W/\"3\""
                ))
            })?);
        }
        if let Some(v) = header_str(h, &header::IF_NONE_MATCH)? {
            for tag in v.split(',') {
                if tag.trim() == "*" {
                    c.if_none_match_any = true;
                } else {
                    c.if_none_match.push(parse_etag(tag).ok_or_else(|| {
                        AppError::invalid(format!(
                            "If-None-Match {v:?} is not a list of version ETags"
                        ))
                    })?);
                }
            }
        }
        // RFC 9110 section 13.1.3: an invalid date makes the header be ignored, not an error.
        c.if_modified_since = header_str(h, &header::IF_MODIFIED_SINCE)
            .ok()
            .flatten()
            .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
            .map(|t| t.to_utc());
        c.if_none_exist =
            header_str(h, &header::HeaderName::from_static("if-none-exist"))?.map(str::to_owned);
        Ok(c)
    }
}

/// `Prefer: return=...`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReturnPref {
    Minimal,
    #[default]
    Representation,
    OperationOutcome,
}

/// The `Prefer` header (<https://hl7.org/fhir/R4/http.html#ops>).
#[derive(Debug, Clone, Copy, Default)]
pub struct Prefer {
    pub return_pref: ReturnPref,
    /// `handling=strict`: unknown search parameters are errors.
    pub strict: bool,
    pub respond_async: bool,
}

impl Prefer {
    pub fn parse(raw: &str) -> Prefer {
        let mut p = Prefer::default();
        // Several preferences may come comma-separated or in repeated headers; unknown ones
        // are ignored, as RFC 7240 asks.
        for token in raw.split([',', ';']).map(str::trim) {
            match token.replace(' ', "").as_str() {
                "return=minimal" => p.return_pref = ReturnPref::Minimal,
                "return=representation" => p.return_pref = ReturnPref::Representation,
                "return=OperationOutcome" => p.return_pref = ReturnPref::OperationOutcome,
                "handling=strict" => p.strict = true,
                "handling=lenient" => p.strict = false,
                "respond-async" => p.respond_async = true,
                _ => {}
            }
        }
        p
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Prefer {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        let joined: Vec<&str> = parts
            .headers
            .get_all(header::HeaderName::from_static("prefer"))
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        Ok(Prefer::parse(&joined.join(",")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags() {
        assert_eq!(parse_etag("W/\"3\""), Some(3));
        assert_eq!(parse_etag("\"12\""), Some(12));
        assert_eq!(parse_etag("7"), Some(7));
        for bad in ["W/\"x\"", "", "W/\"0\"", "\"-1\""] {
            assert_eq!(parse_etag(bad), None, "{bad}");
        }
    }

    #[test]
    fn prefer_values() {
        assert_eq!(
            Prefer::parse("return=minimal").return_pref,
            ReturnPref::Minimal
        );
        assert_eq!(
            Prefer::parse("return=OperationOutcome").return_pref,
            ReturnPref::OperationOutcome
        );
        let p = Prefer::parse("handling=strict, return=representation");
        assert!(p.strict);
        assert_eq!(p.return_pref, ReturnPref::Representation);
        assert!(Prefer::parse("respond-async").respond_async);
        assert_eq!(
            Prefer::parse("bogus").return_pref,
            ReturnPref::Representation
        );
    }
}
