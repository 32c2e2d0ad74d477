//! Conditional-request and preference headers (<https://hl7.org/fhir/R4/http.html>):
//! If-Match, If-None-Match, If-Modified-Since, If-None-Exist and Prefer.

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts, HeaderMap};
use chrono::{DateTime, Utc};

use services::request::{parse_etag, Prefer};

use crate::error::{AppError, Error};

fn header_str<'a>(
    headers: &'a HeaderMap,
    name: &header::HeaderName,
) -> Result<Option<&'a str>, AppError> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map_err(|_| Error::invalid(format!("header {name} is not readable text")).into())
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
                Error::invalid(format!(
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
                        Error::invalid(format!(
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

/// The `Prefer` header(s) of a request, parsed ([`Prefer::parse`]).
pub struct PreferHeader(pub Prefer);

impl<S: Send + Sync> FromRequestParts<S> for PreferHeader {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        let joined: Vec<&str> = parts
            .headers
            .get_all(header::HeaderName::from_static("prefer"))
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        Ok(PreferHeader(Prefer::parse(&joined.join(","))))
    }
}
