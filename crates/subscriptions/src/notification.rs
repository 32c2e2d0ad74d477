//! The Bundles a subscriber receives and `$status` answers (Subscriptions Backport STU 1.1, R4:
//! <https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/notifications.html>): a `history`
//! Bundle whose first entry is the SubscriptionStatus (a `Parameters` with the
//! `backport-subscription-status-r4` profile), followed, per event, by the resource
//! (`full-resource`) or its URL (`id-only`); `empty` sends the status alone.

use serde_json::{json, Value};

use crate::subscription::{Payload, Status, BACKPORT};

/// What a notification is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Handshake,
    Heartbeat,
    EventNotification,
    QueryStatus,
    QueryEvent,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Handshake => "handshake",
            Kind::Heartbeat => "heartbeat",
            Kind::EventNotification => "event-notification",
            Kind::QueryStatus => "query-status",
            Kind::QueryEvent => "query-event",
        }
    }
}

/// The subscription a status describes.
#[derive(Debug, Clone)]
pub struct About<'a> {
    /// Its absolute URL.
    pub subscription: &'a str,
    pub topic: &'a str,
    pub status: Status,
    /// Events numbered for it so far.
    pub events_since_start: i64,
    /// Why it is in `error`, if it is.
    pub error: Option<&'a str>,
}

/// One event of a notification.
#[derive(Debug, Clone)]
pub struct Event {
    /// Its number for this subscription.
    pub number: i64,
    /// When its change was committed (a FHIR instant).
    pub timestamp: String,
    /// The resource's absolute URL (`{base}/Type/id`).
    pub full_url: String,
    /// The version's absolute URL (`{base}/Type/id/_history/v`), the event's `focus`.
    pub focus: String,
    /// `Type/id`, for `request.url`.
    pub url: String,
    /// The change: `POST`, `PUT` or `DELETE`.
    pub method: &'static str,
    /// The version's body (`None` for a delete, or when the payload carries none).
    pub resource: Option<Value>,
}

/// The SubscriptionStatus of `about` for a notification of `kind` with `events`.
pub fn status(about: &About<'_>, kind: Kind, events: &[Event]) -> Value {
    let mut parameter = vec![
        json!({"name": "subscription", "valueReference": {"reference": about.subscription}}),
        json!({"name": "topic", "valueCanonical": about.topic}),
        json!({"name": "status", "valueCode": about.status.as_str()}),
        json!({"name": "type", "valueCode": kind.as_str()}),
        json!({"name": "events-since-subscription-start", "valueString": about.events_since_start.to_string()}),
    ];
    for e in events {
        parameter.push(json!({"name": "notification-event", "part": [
            {"name": "event-number", "valueString": e.number.to_string()},
            {"name": "timestamp", "valueInstant": e.timestamp},
            {"name": "focus", "valueReference": {"reference": e.focus}}
        ]}));
    }
    if let Some(error) = about.error {
        parameter.push(json!({"name": "error", "valueCodeableConcept": {"text": error}}));
    }
    json!({
        "resourceType": "Parameters",
        "meta": {"profile": [format!("{BACKPORT}backport-subscription-status-r4")]},
        "parameter": parameter
    })
}

/// The notification Bundle: the status, then each event's entry as `payload` says.
pub fn bundle(
    about: &About<'_>,
    kind: Kind,
    events: &[Event],
    payload: Payload,
    timestamp: &str,
) -> Value {
    let status_id = format!("status-{}", about.events_since_start);
    let mut entries = vec![json!({
        "fullUrl": format!("urn:uuid:{}", stable_uuid(about.subscription, &status_id)),
        "resource": status(about, kind, events),
        "request": {"method": "GET", "url": format!("{}/$status", about.subscription)},
        "response": {"status": "200"}
    })];
    if payload != Payload::Empty {
        for e in events {
            let mut entry = json!({
                "fullUrl": e.full_url,
                "request": {"method": e.method, "url": e.url},
                "response": {"status": if e.method == "POST" { "201" } else { "200" }}
            });
            if payload == Payload::FullResource {
                if let Some(r) = &e.resource {
                    entry["resource"] = r.clone();
                }
            }
            entries.push(entry);
        }
    }
    json!({
        "resourceType": "Bundle",
        "meta": {"profile": [format!("{BACKPORT}backport-subscription-notification-r4")]},
        "type": "history",
        "timestamp": timestamp,
        "entry": entries
    })
}

/// A stable name for the status entry: a name-based UUID (RFC 9562 version 3) of the
/// subscription and the notification, so the same notification sent again carries the same
/// one and a subscriber can recognise a redelivery.
fn stable_uuid(subscription: &str, part: &str) -> String {
    let name = format!("{subscription}#{part}");
    uuid::Uuid::new_v3(&uuid::Uuid::NAMESPACE_URL, name.as_bytes()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn about() -> About<'static> {
        About {
            subscription: "http://h/fhir/t/Subscription/s1",
            topic: "http://ndh.org/topic/practitioner-create-or-delete",
            status: Status::Active,
            events_since_start: 2,
            error: None,
        }
    }

    fn event(n: i64, method: &'static str) -> Event {
        Event {
            number: n,
            timestamp: "2026-01-01T00:00:00Z".into(),
            full_url: "http://h/fhir/t/Practitioner/p".into(),
            focus: format!("http://h/fhir/t/Practitioner/p/_history/{n}"),
            url: "Practitioner/p".into(),
            method,
            resource: (method != "DELETE")
                .then(|| json!({"resourceType": "Practitioner", "id": "p"})),
        }
    }

    #[test]
    fn a_notification_starts_with_its_status_and_carries_what_the_payload_says() {
        let events = [event(1, "POST"), event(2, "DELETE")];
        let b = bundle(
            &about(),
            Kind::EventNotification,
            &events,
            Payload::FullResource,
            "2026-01-01T00:00:01Z",
        );
        assert_eq!(b["type"], "history");
        let entries = b["entry"].as_array().unwrap();
        assert_eq!(entries.len(), 3);
        let status = &entries[0]["resource"];
        assert_eq!(status["resourceType"], "Parameters");
        let p = status["parameter"].as_array().unwrap();
        assert_eq!(
            p[3],
            json!({"name": "type", "valueCode": "event-notification"})
        );
        assert_eq!(p[4]["valueString"], "2");
        assert_eq!(p[5]["part"][0]["valueString"], "1");
        assert_eq!(
            p[6]["part"][2]["valueReference"]["reference"],
            "http://h/fhir/t/Practitioner/p/_history/2"
        );
        assert_eq!(entries[1]["resource"]["id"], "p");
        assert!(entries[2].get("resource").is_none(), "a delete has no body");
        assert_eq!(entries[2]["request"]["method"], "DELETE");

        let ids = bundle(
            &about(),
            Kind::EventNotification,
            &events,
            Payload::IdOnly,
            "t",
        );
        assert!(ids["entry"][1].get("resource").is_none());
        assert_eq!(ids["entry"][1]["fullUrl"], "http://h/fhir/t/Practitioner/p");
        let empty = bundle(
            &about(),
            Kind::EventNotification,
            &events,
            Payload::Empty,
            "t",
        );
        assert_eq!(empty["entry"].as_array().unwrap().len(), 1);
        // The same notification again: the same status entry name.
        assert_eq!(b["entry"][0]["fullUrl"], ids["entry"][0]["fullUrl"]);
    }
}
