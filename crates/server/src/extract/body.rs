//! The FHIR resource in a request body: media type (415), size (413), JSON syntax (400 with
//! line and column) and `resourceType` checked before any handler runs.

use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde_json::{Map, Value};

use services::request::parse_resource;

use crate::error::{AppError, Error};
use crate::state::AppState;

/// A parsed request body that is a JSON object with a string `resourceType`.
pub struct FhirBody(pub Map<String, Value>);

impl FhirBody {
    pub fn resource_type(&self) -> &str {
        self.0
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

/// Media types accepted in a request body: FHIR JSON and plain JSON, any parameters.
fn is_json_media_type(ct: &str) -> bool {
    let essence = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "application/fhir+json" | "application/json" | "application/json+fhir"
    )
}

impl FromRequest<AppState> for FhirBody {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, AppError> {
        match req.headers().get(header::CONTENT_TYPE).map(|v| v.to_str()) {
            Some(Ok(ct)) if is_json_media_type(ct) => {}
            Some(Ok(ct)) => {
                return Err(Error::unsupported_media_type(format!(
                    "content type {ct:?} is not supported: send application/fhir+json"
                ))
                .into())
            }
            Some(Err(_)) => {
                return Err(Error::unsupported_media_type("unreadable Content-Type header").into())
            }
            None => {
                return Err(Error::unsupported_media_type(
                    "missing Content-Type: send application/fhir+json",
                )
                .into())
            }
        }
        let bytes = read_limited(req, state.config.max_body_bytes).await?;
        Ok(parse_resource(&bytes).map(FhirBody)?)
    }
}

/// A request body as bytes, read up to `max_body_bytes` like [`FhirBody`] (PATCH documents:
/// the handler picks their format from the Content-Type). axum's own `Bytes` extractor would
/// apply its 2 MiB default instead, and reject with a text/plain 413.
pub struct RawBody(pub axum::body::Bytes);

impl RawBody {
    /// The body as `application/x-www-form-urlencoded` pairs (`POST _search`, operations);
    /// 400 when it is not.
    pub fn form_pairs(&self) -> Result<Vec<(String, String)>, Error> {
        serde_urlencoded::from_bytes(&self.0)
            .map_err(|e| Error::invalid(format!("malformed form body: {e}")))
    }
}

impl FromRequest<AppState> for RawBody {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, AppError> {
        read_limited(req, state.config.max_body_bytes)
            .await
            .map(RawBody)
    }
}

/// The body, decoded per its `Content-Encoding` (`gzip`, `deflate`, `identity`; others 415),
/// or 413 (with an OperationOutcome) when it is longer than `limit` before or after decoding.
async fn read_limited(req: Request, limit: usize) -> Result<axum::body::Bytes, AppError> {
    let encoding = match req.headers().get(header::CONTENT_ENCODING) {
        None => Encoding::Identity,
        Some(v) => Encoding::parse(v.to_str().unwrap_or("?"))?,
    };
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
    {
        if len > limit {
            return Err(Error::payload_too_large(limit).into());
        }
    }
    let bytes = axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|e| {
            // `to_bytes` reports an exceeded limit as a boxed `LengthLimitError` somewhere in
            // the error's source chain; anything else is a broken connection.
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            while let Some(s) = source {
                if s.is::<http_body_util::LengthLimitError>() {
                    return Error::payload_too_large(limit);
                }
                source = s.source();
            }
            Error::invalid(format!("could not read the request body: {e}"))
        })?;
    encoding.decode(bytes, limit)
}

/// A request body's `Content-Encoding` (<https://www.rfc-editor.org/rfc/rfc9110#section-8.4>).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Identity,
    Gzip,
    Deflate,
}

impl Encoding {
    fn parse(value: &str) -> Result<Encoding, AppError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "identity" => Ok(Encoding::Identity),
            "gzip" | "x-gzip" => Ok(Encoding::Gzip),
            "deflate" => Ok(Encoding::Deflate),
            other => Err(Error::unsupported_media_type(format!(
                "Content-Encoding {other:?} is not supported: send gzip, deflate or identity"
            ))
            .into()),
        }
    }

    /// The decoded body; at most `limit` bytes of it, else 413 (a small gzip bomb must not
    /// become gigabytes in memory).
    fn decode(self, bytes: axum::body::Bytes, limit: usize) -> Result<axum::body::Bytes, AppError> {
        use std::io::Read;
        let reader: Box<dyn Read + '_> = match self {
            Encoding::Identity => return Ok(bytes),
            Encoding::Gzip => Box::new(flate2::read::MultiGzDecoder::new(&bytes[..])),
            Encoding::Deflate => Box::new(flate2::read::ZlibDecoder::new(&bytes[..])),
        };
        let mut out = Vec::new();
        let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
        reader.take(cap).read_to_end(&mut out).map_err(|e| {
            Error::invalid(format!("the request body is not valid {self:?} data: {e}"))
        })?;
        if out.len() > limit {
            return Err(Error::payload_too_large(limit).into());
        }
        Ok(out.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_media_types() {
        for ok in [
            "application/fhir+json",
            "application/json; charset=utf-8",
            "Application/FHIR+JSON;fhirVersion=4.0",
        ] {
            assert!(is_json_media_type(ok), "{ok}");
        }
        for bad in ["application/fhir+xml", "application/xml", "text/plain", ""] {
            assert!(!is_json_media_type(bad), "{bad}");
        }
    }

    #[test]
    fn malformed_json_reports_line_and_column() {
        let err =
            parse_resource(b"{\n  \"resourceType\": \"Practitioner\",\n  oops\n}").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("line 3"), "{text}");
        assert!(text.contains("column"), "{text}");
    }

    #[test]
    fn non_object_and_missing_resource_type_are_rejected() {
        assert!(parse_resource(b"[1]").is_err());
        assert!(parse_resource(b"{\"id\":\"x\"}")
            .unwrap_err()
            .to_string()
            .contains("resourceType"));
        assert!(parse_resource(b"{\"resourceType\":5}").is_err());
    }
}
