//! Catching up from the upstream's history, which holds every version whatever the upstream
//! kept of its events: `GET [upstream]/[type]/_history?_since=` (R4 `history-type`, deletes
//! included) from the commit time of the last event the replica applied, less a margin,
//! applied oldest first and idempotently as events are (a version already held is skipped,
//! see `apply`). Used
//! - when the upstream's `$events` cannot fill a gap in the event numbers (it trimmed them,
//!   or, a FHIR server other than fhirdir, offers no `$events`): the feed then stands at the
//!   gap's end;
//! - once when the replica starts following (it may have been away longer than the upstream
//!   keeps its events, and an upstream never numbers for us the events it trimmed before
//!   delivering them): the feed stays where it is.

use ::subscriptions::received::Change;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use store::{Feed, Upstream};

use super::client::Client;
use super::worker::{next_page, origin, refusal};
use crate::error::Result;
use crate::App;

/// Versions per history page asked for.
const PAGE: u32 = 500;

/// Read history from this long before the last applied event's commit (clocks and
/// `_since`'s precision; a version read twice is skipped).
const MARGIN_MICROS: i64 = 1_000_000;

/// The margin when reading from our own clock's last contact with the upstream.
const CONTACT_MARGIN_MICROS: i64 = 600_000_000;

/// Applies what changed in `feed`'s type since its last applied event (or since `after`,
/// upstream microseconds, when later: what an earlier read of the history covered), and
/// moves the feed to `upto` (the last event number of a gap) when given. Answers the commit
/// time of the newest version read, if any.
pub(super) async fn since_last(
    app: &App,
    up: &Upstream,
    feed: &Feed,
    upto: Option<i64>,
    after: Option<i64>,
) -> Result<Option<i64>> {
    let number = upto.unwrap_or(feed.applied);
    let client = Client { app, up };
    // From the last applied event's commit (the upstream's clock); with none applied yet, a
    // gap is read from the beginning, and a start from the upstream's last contact (our
    // clock, so with a wider margin) or not at all.
    let since = match (feed.committed_at.max(after), upto, feed.contact) {
        (Some(at), _, _) => at - MARGIN_MICROS,
        (None, Some(_), _) => 0,
        (None, None, Some(contact)) => contact - CONTACT_MARGIN_MICROS,
        (None, None, None) => return Ok(None),
    };
    let since = DateTime::<Utc>::from_timestamp_micros(since).unwrap_or(DateTime::UNIX_EPOCH);
    let home = origin(&up.url);
    let mut url = format!(
        "{}/{}/_history?_since={}&_count={PAGE}",
        up.url,
        feed.resource_type,
        since.to_rfc3339_opts(SecondsFormat::Micros, true)
    );
    let mut versions = Vec::new();
    loop {
        let answer = client.get(&url).await?;
        if !answer.ok() {
            return Err(refusal(
                &format!("reading the history of {}", feed.resource_type),
                &answer,
            ));
        }
        let entries = answer.body["entry"].as_array().cloned().unwrap_or_default();
        versions.extend(
            entries
                .iter()
                .filter_map(|e| version(e, &feed.resource_type, number)),
        );
        match next_page(&answer.body, home.as_deref())? {
            Some(n) => url = n,
            None => break,
        }
    }
    // History is newest first; versions apply oldest first.
    versions.sort_by_key(|(at, c)| (*at, c.version));
    let newest = versions.last().map(|(at, _)| *at);
    let mut changes: Vec<Change> = versions.into_iter().map(|(_, c)| c).collect();
    let Some(upto) = upto else {
        let n = super::apply::versions(app, up, &feed.resource_type, &changes).await?;
        if n > 0 {
            tracing::info!(
                tenant = %up.tenant, resource_type = %feed.resource_type, versions = n,
                "federation: applied versions the upstream's events did not bring, from its history"
            );
        }
        return Ok(newest);
    };
    if changes.is_empty() {
        // Nothing changed since: the gap was events of versions already held.
        super::apply::move_to(app, up, &feed.resource_type, upto).await?;
        return Ok(newest);
    }
    tracing::info!(
        tenant = %up.tenant, resource_type = %feed.resource_type, versions = changes.len(),
        "federation: the upstream cannot replay missed events; caught up from its history"
    );
    // The feed moves to `upto` with the last of them.
    for c in &mut changes {
        c.number = upto;
    }
    super::apply::changes(app, up, &feed.resource_type, &changes).await?;
    Ok(newest)
}

/// One history entry as a change numbered `number`, with its commit time (microseconds):
/// a version with its body, or a delete (no body; `request.method` DELETE).
fn version(entry: &Value, resource_type: &str, number: i64) -> Option<(i64, Change)> {
    let resource = entry["resource"].as_object().cloned();
    let (id, version, at) = match &resource {
        Some(r) => (
            r.get("id")?.as_str()?.to_owned(),
            r.get("meta")?.get("versionId")?.as_str()?.parse().ok()?,
            r.get("meta")?.get("lastUpdated")?.as_str()?.to_owned(),
        ),
        None if entry["request"]["method"] == "DELETE" => {
            let url = entry["request"]["url"].as_str()?;
            let id = url.strip_prefix(&format!("{resource_type}/"))?;
            let etag = entry["response"]["etag"].as_str().unwrap_or_default();
            let version = etag
                .trim_start_matches("W/")
                .trim_matches('"')
                .parse()
                .unwrap_or(0);
            let at = entry["response"]["lastModified"].as_str()?.to_owned();
            (id.split('/').next()?.to_owned(), version, at)
        }
        None => return None,
    };
    let micros = DateTime::parse_from_rfc3339(&at).ok()?.timestamp_micros();
    if resource
        .as_ref()
        .is_some_and(|r| r.get("resourceType").and_then(Value::as_str) != Some(resource_type))
    {
        return None;
    }
    Some((
        micros,
        Change {
            number,
            timestamp: Some(at),
            resource_type: resource_type.to_owned(),
            id,
            version,
            resource,
        },
    ))
}
