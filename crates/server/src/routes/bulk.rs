//! Bulk data (`services::bulk` has the rules). Export (Bulk Data 2.0): kick-off at
//! `[base]/$export`, `[base]/[type]/$export` and the Group operations (GET, or POST with a
//! Parameters body), the status URL `[base]/$export/{job}` (GET, DELETE), and the files
//! under it. Import (ping and pull): `POST [base]/$import`, status `[base]/$import/{job}`.

use axum::body::Body;
use axum::extract::{OriginalUri, Path};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use services::bulk::{self, ExportStatus, Level};

use crate::error::{AppResult, Error};
use crate::extract::{Ctx, PreferHeader, Query, RawBody};
use crate::response::fhir_json;

/// The media type of export files.
const NDJSON: &str = "application/fhir+ndjson";

/// `GET|POST [base]/$export`
pub async fn system(
    ctx: Ctx,
    uri: OriginalUri,
    Query(q): Query,
    PreferHeader(prefer): PreferHeader,
    RawBody(body): RawBody,
) -> AppResult<Response> {
    kick_off(ctx, Level::System, uri, q.0, prefer, body).await
}

/// `GET|POST [base]/[type]/$export` (from the operation routes).
pub async fn kick_off(
    ctx: Ctx,
    level: Level,
    OriginalUri(uri): OriginalUri,
    query: Vec<(String, String)>,
    prefer: services::request::Prefer,
    body: axum::body::Bytes,
) -> AppResult<Response> {
    let mut pairs = query;
    if !body.iter().all(u8::is_ascii_whitespace) {
        let value: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| Error::invalid(format!("the body is not JSON: {e}")))?;
        pairs.extend(bulk::parameters_pairs(&value)?);
    }
    let request_url = request_url(&ctx, &uri);
    let accepted = bulk::kick_off(&ctx, level, &pairs, prefer, request_url).await?;
    Ok(accepted_response(accepted))
}

/// `GET [base]/$export/{job}`: 202 with `X-Progress` and `Retry-After` while it runs, the
/// manifest (`application/json`, as the specification names it) with `Expires` once complete.
pub async fn status(ctx: Ctx, Path((_, job)): Path<(String, String)>) -> AppResult<Response> {
    Ok(status_response(bulk::status(&ctx, &job).await?))
}

/// `POST [base]/$import` with a ping-and-pull Parameters body.
pub async fn import(ctx: Ctx, uri: OriginalUri, RawBody(body): RawBody) -> AppResult<Response> {
    let value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| Error::invalid(format!("the body is not JSON: {e}")))?;
    let accepted = bulk::import::kick_off(&ctx, &value, request_url(&ctx, &uri.0)).await?;
    Ok(accepted_response(accepted))
}

/// `GET [base]/$import/{job}`: as an export's status.
pub async fn import_status(
    ctx: Ctx,
    Path((_, job)): Path<(String, String)>,
) -> AppResult<Response> {
    Ok(status_response(bulk::import::status(&ctx, &job).await?))
}

/// `DELETE [base]/$import/{job}`: 202; the status URL then answers 404.
pub async fn import_cancel(
    ctx: Ctx,
    Path((_, job)): Path<(String, String)>,
) -> AppResult<Response> {
    bulk::import::cancel(&ctx, &job).await?;
    let oo = fhir::OperationOutcome::information(format!("import {job} cancelled and removed"));
    Ok(fhir_json(StatusCode::ACCEPTED, oo.to_json().to_string()))
}

/// The request's URL as the client sent it, on the public base.
fn request_url(ctx: &Ctx, uri: &axum::http::Uri) -> String {
    format!(
        "{}{}",
        ctx.app().settings.base_url,
        uri.path_and_query().map_or(uri.path(), |p| p.as_str())
    )
}

/// 202 with the OperationOutcome and `Content-Location` of an accepted kick-off.
fn accepted_response(accepted: bulk::Accepted) -> Response {
    let mut resp = fhir_json(StatusCode::ACCEPTED, accepted.outcome.to_string());
    if let Ok(v) = HeaderValue::from_str(&accepted.status_url) {
        resp.headers_mut().insert(header::CONTENT_LOCATION, v);
    }
    resp
}

fn status_response(status: ExportStatus) -> Response {
    match status {
        ExportStatus::Running { progress } => {
            let mut resp = Response::new(Body::empty());
            *resp.status_mut() = StatusCode::ACCEPTED;
            let h = resp.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&progress) {
                h.insert(HeaderName::from_static("x-progress"), v);
            }
            h.insert(
                header::RETRY_AFTER,
                HeaderValue::from(bulk::RETRY_AFTER_SECS),
            );
            resp
        }
        ExportStatus::Complete { manifest, expires } => {
            let mut resp = Response::new(Body::from(manifest.to_string()));
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            if let Ok(v) = HeaderValue::from_str(&fhir::meta::http_date(expires)) {
                h.insert(header::EXPIRES, v);
            }
            resp
        }
    }
}

/// `DELETE [base]/$export/{job}`: 202; the status URL then answers 404.
pub async fn cancel(ctx: Ctx, Path((_, job)): Path<(String, String)>) -> AppResult<Response> {
    bulk::cancel(&ctx, &job).await?;
    let oo = fhir::OperationOutcome::information(format!("export {job} cancelled and removed"));
    Ok(fhir_json(StatusCode::ACCEPTED, oo.to_json().to_string()))
}

/// `GET [base]/$export/{job}/{file}`: the NDJSON file, streamed (gzip-compressed on the way
/// when the client accepts it, by the server's compression layer).
pub async fn file(
    ctx: Ctx,
    Path((_, job, name)): Path<(String, String, String)>,
) -> AppResult<Response> {
    let (path, bytes) = bulk::file(&ctx, &job, &name).await?;
    let f = tokio::fs::File::open(&path).await.map_err(|e| {
        tracing::error!(path = %path.display(), error = %e, "an export file is missing");
        Error::not_found(format!(
            "export {job}'s file {name} is no longer on this server"
        ))
    })?;
    use tokio::io::AsyncReadExt;
    let stream = tokio_util::io::ReaderStream::new(f.take(bytes));
    let mut resp = Response::new(Body::from_stream(stream));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes));
    Ok(resp)
}
