//! `$reindex` (<https://hl7.org/fhir/R4/async.html> request pattern):
//! `POST [base]/$reindex[?type=A,B]` queues a job (202, `Content-Location` = status URL);
//! `GET [base]/$reindex/{job}` reports it (202 + `X-Progress` while queued or running, 200
//! once ended); `DELETE [base]/$reindex/{job}` cancels it; `GET [base]/$reindex` lists the
//! tenant's jobs.

use axum::extract::Path;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use services::reindex::{self, ReindexJob};

use crate::error::{AppResult, Error};
use crate::extract::{Ctx, Query, RawBody};
use crate::response::fhir_json;

/// `POST [base]/$reindex`: `type` from the query string or a Parameters body.
pub async fn kick_off(ctx: Ctx, Query(q): Query, RawBody(body): RawBody) -> AppResult<Response> {
    let body: Option<serde_json::Value> = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(
            serde_json::from_slice(&body)
                .map_err(|e| Error::invalid(format!("the body is not JSON: {e}")))?,
        )
    };
    let types = reindex::requested_types(&q.0, body.as_ref())?;
    let job = reindex::kick_off(&ctx, types).await?;
    let oo = fhir::OperationOutcome::information(format!(
        "reindex job {} queued: {} resources",
        job.id, job.total
    ));
    let mut resp = fhir_json(StatusCode::ACCEPTED, oo.to_json().to_string());
    let status_url = format!("{}/$reindex/{}", ctx.base(), job.id);
    if let Ok(v) = HeaderValue::from_str(&status_url) {
        resp.headers_mut().insert(header::CONTENT_LOCATION, v);
    }
    Ok(resp)
}

/// `GET [base]/$reindex`: every job of the tenant.
pub async fn list(ctx: Ctx) -> AppResult<Response> {
    let jobs = reindex::list(&ctx).await?;
    Ok(fhir_json(
        StatusCode::OK,
        reindex::jobs_parameters(&jobs).to_string(),
    ))
}

/// `GET [base]/$reindex/{job}`
pub async fn status(ctx: Ctx, Path((_, job)): Path<(String, String)>) -> AppResult<Response> {
    let job = reindex::status(&ctx, &job).await?;
    Ok(status_response(&job))
}

/// `DELETE [base]/$reindex/{job}`
pub async fn cancel(ctx: Ctx, Path((_, job)): Path<(String, String)>) -> AppResult<Response> {
    let job = reindex::cancel(&ctx, &job).await?;
    Ok(status_response(&job))
}

fn status_response(job: &ReindexJob) -> Response {
    let status = if job.state.is_unfinished() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    let mut resp = fhir_json(status, reindex::job_parameters(job).to_string());
    if let Ok(v) = HeaderValue::from_str(&reindex::progress_text(job)) {
        resp.headers_mut()
            .insert(HeaderName::from_static("x-progress"), v);
    }
    resp
}
