//! The receiving endpoint of a replica tenant (`POST /fhir/{t}/upstream/notify`): the
//! upstream's notifications for our Subscriptions. Who may call it: only a caller presenting
//! the setting's secret in [`super::SECRET_HEADER`] (the upstream, which has it from our
//! Subscription's channel header); anyone else gets 401 and learns nothing (not whether the
//! tenant exists or is a replica). The upstream is answered 2xx only once the events are
//! committed here, so an event is never acknowledged and lost; a failure answers 5xx and
//! the upstream sends it again.

use ::subscriptions::received::{self, Change, Received};
use serde_json::Value;
use store::{Feed, TenantName, Upstream};

use super::client::Client;
use crate::error::{Error, Result};
use crate::App;

/// Most events read from `$events` in one request (the upstream's own cap is 1000).
const EVENTS_PAGE: i64 = 500;

fn refused() -> Error {
    Error::unauthorized(format!(
        "notifications for a replica tenant need the {} header its Subscriptions carry",
        super::SECRET_HEADER
    ))
}

/// Handles one notification Bundle sent to `tenant` with `secret`.
pub async fn notification(
    app: &App,
    tenant: &TenantName,
    secret: Option<&str>,
    body: &[u8],
) -> Result<()> {
    let up = app.store.upstream(tenant).await.ok().flatten();
    let Some(up) = up else {
        return Err(refused());
    };
    let presented = secret.ok_or_else(refused)?;
    if !auth::constant_time_eq(presented.trim().as_bytes(), up.secret.as_bytes()) {
        return Err(refused());
    }
    let bundle: Value = serde_json::from_slice(body)
        .map_err(|e| Error::invalid(format!("the notification is not JSON: {e}")))?;
    let notice = received::read(&bundle).map_err(Error::invalid)?;
    let feeds = app.store.feeds(tenant).await?;
    let Some(feed) = feeds
        .into_iter()
        .find(|f| same_subscription(&f.subscription, &notice.subscription))
    else {
        // A handshake may come before the Subscription's creation has answered us (and its
        // feed been saved): it carries nothing, so it is accepted.
        if notice.kind == "handshake" {
            return Ok(());
        }
        return Err(Error::not_found(format!(
            "{} is not a Subscription of this replica",
            notice.subscription
        )));
    };
    take(app, &up, &feed.resource_type, notice).await
}

/// Whether a notification's Subscription reference names our Subscription `ours` (the
/// absolute URL we created it at): by its `Subscription/{id}`, since an upstream may name
/// itself by another base than the one we call it at (behind a proxy or under an alias), or
/// relatively; the secret header already says the caller is our upstream.
fn same_subscription(ours: &str, named: &str) -> bool {
    let id = |s: &str| {
        s.rsplit_once("Subscription/")
            .map(|(_, id)| id.trim_end_matches('/').to_owned())
    };
    ours == named || id(ours).is_some_and(|a| Some(a) == id(named))
}

/// Applies what `notice` (of `resource_type`'s feed) brings, after filling any gap before
/// it from the upstream's `$events`; notes the contact.
pub(super) async fn take(
    app: &App,
    up: &Upstream,
    resource_type: &str,
    notice: Received,
) -> Result<()> {
    let lock = app.federation.lock(up.tenant.as_str());
    let _held = lock.lock().await;
    // Read again under the lock: another notification may have moved the feed.
    let Some(feed) = app
        .store
        .feeds(&up.tenant)
        .await?
        .into_iter()
        .find(|f| f.resource_type == resource_type)
    else {
        return Ok(());
    };
    let announced = notice.announced.max(feed.announced);
    let pending = notice
        .changes
        .iter()
        .find(|c| c.number > feed.applied)
        .and_then(|c| super::micros(c.timestamp.as_deref()));
    app.store
        .note_feed_contact(
            &up.tenant,
            resource_type,
            announced,
            pending,
            super::now_micros(),
        )
        .await?;
    let mut changes: Vec<Change> = notice
        .changes
        .into_iter()
        .filter(|c| c.number > feed.applied)
        .collect();
    let first = changes.first().map_or(announced + 1, |c| c.number);
    let mut expected = feed.applied + 1;
    if first > expected {
        match replay(app, up, &feed, expected, first - 1).await? {
            Some(mut missed) => {
                missed.append(&mut changes);
                changes = missed;
            }
            None => {
                super::resync::since_last(app, up, &feed, Some(first - 1), None).await?;
                expected = first;
            }
        }
    }
    // A run without a hole from the feed's position: what cannot be applied in order waits
    // for the upstream to send it again.
    changes.retain(|c| {
        let keep = c.number == expected;
        if keep {
            expected += 1;
        }
        keep
    });
    for chunk in changes.chunks(EVENTS_PAGE as usize) {
        super::apply::changes(app, up, resource_type, chunk).await?;
    }
    Ok(())
}

/// The events `from..=to` of `feed` read from the upstream's `$events` (full resources);
/// `None` when the upstream cannot give all of them: it no longer keeps some (a hole in the
/// numbers it answers), or offers no `$events` (a 4xx).
async fn replay(
    app: &App,
    up: &Upstream,
    feed: &Feed,
    from: i64,
    to: i64,
) -> Result<Option<Vec<Change>>> {
    let client = Client { app, up };
    let mut out = Vec::new();
    let mut next = from;
    while next <= to {
        let until = to.min(next + EVENTS_PAGE - 1);
        let url = format!(
            "{}/$events?eventsSinceNumber={next}&eventsUntilNumber={until}&content=full-resource",
            feed.subscription
        );
        let answer = client.get(&url).await?;
        if (400..500).contains(&answer.status) {
            return Ok(None);
        }
        if !answer.ok() {
            return Err(Error::bad_gateway(format!(
                "upstream $events answered HTTP {}",
                answer.status
            )));
        }
        let got = received::read(&answer.body).map_err(|e| {
            Error::bad_gateway(format!("upstream $events answered an unusable Bundle: {e}"))
        })?;
        // Each number in turn, or the upstream no longer keeps them all.
        let whole = got
            .changes
            .iter()
            .enumerate()
            .all(|(i, c)| c.number == next + i as i64);
        let Some(last) = got.changes.last().map(|c| c.number).filter(|_| whole) else {
            return Ok(None);
        };
        out.extend(got.changes);
        next = last + 1;
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::same_subscription;

    #[test]
    fn a_subscription_is_recognised_by_its_id_whatever_base_names_it() {
        let ours = "https://proxy.example/fhir/t/Subscription/42";
        assert!(same_subscription(ours, ours));
        assert!(same_subscription(
            ours,
            "http://10.0.0.1:8080/fhir/t/Subscription/42"
        ));
        assert!(same_subscription(ours, "Subscription/42"));
        assert!(!same_subscription(
            ours,
            "https://proxy.example/fhir/t/Subscription/43"
        ));
        assert!(!same_subscription(
            ours,
            "https://proxy.example/fhir/t/Subscription/420"
        ));
        assert!(!same_subscription(ours, "Patient/42"));
    }
}
