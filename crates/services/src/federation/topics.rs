//! Which topic the replica subscribes to on its upstream for each copied type, from the
//! topics the upstream's CapabilityStatement offers (the backport's
//! `capabilitystatement-subscriptiontopic-canonical` extension, <https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/>):
//! fhirdir's own `{type}-create-update-delete`, which brings every change; else NDH's
//! `{type}-create-or-delete` (any NDH national directory offers it), which brings creates and
//! deletes only, the updates then read from the upstream's history at every check (see
//! `worker`); else the type cannot be followed, and the setting's error says so. An upstream
//! whose CapabilityStatement lists no topics at all is taken to be a fhirdir of before topics
//! were listed: its own topics.

use ::subscriptions::subscription::BACKPORT;
use ::subscriptions::topics::{self, Trigger};
use serde_json::Value;

/// The chosen topic of a type, and whether its events bring every change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Chosen {
    pub canonical: String,
    pub every_change: bool,
}

/// The topic canonicals `capability` offers (versions dropped); empty when it lists none.
pub(super) fn offered(capability: &Value) -> Vec<String> {
    let url = format!("{BACKPORT}capabilitystatement-subscriptiontopic-canonical");
    let mut out = Vec::new();
    let rests = capability["rest"].as_array().into_iter().flatten();
    for resource in rests.flat_map(|r| r["resource"].as_array().into_iter().flatten()) {
        let extensions = resource["extension"].as_array().into_iter().flatten();
        for e in extensions.filter(|e| e["url"] == url.as_str()) {
            if let Some(c) = e["valueCanonical"].as_str() {
                out.push(c.split('|').next().unwrap_or(c).to_owned());
            }
        }
    }
    out
}

/// The topic to follow `resource_type` with, among `offered`.
pub(super) fn choose(offered: &[String], resource_type: &str) -> Option<Chosen> {
    let all = topics::all();
    let of_type = |trigger: Trigger| {
        all.iter()
            .find(|t| t.resource_type == resource_type && t.trigger == trigger)
            .map(|t| t.canonical.clone())
    };
    let own = of_type(Trigger::Any);
    if offered.is_empty() {
        return own.map(|canonical| Chosen {
            canonical,
            every_change: true,
        });
    }
    if let Some(canonical) = own.filter(|c| offered.contains(c)) {
        return Some(Chosen {
            canonical,
            every_change: true,
        });
    }
    of_type(Trigger::CreateOrDelete)
        .filter(|c| offered.contains(c))
        .map(|canonical| Chosen {
            canonical,
            every_change: false,
        })
}

/// Whether following `canonical` brings every change of its type.
pub(super) fn every_change(canonical: &str) -> bool {
    topics::find(canonical).is_some_and(|t| t.trigger == Trigger::Any)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn capability(canonicals: &[&str]) -> Value {
        let ext: Vec<Value> = canonicals
            .iter()
            .map(|c| json!({"url": format!("{BACKPORT}capabilitystatement-subscriptiontopic-canonical"), "valueCanonical": c}))
            .collect();
        json!({"resourceType": "CapabilityStatement", "rest": [{"resource": [
            {"type": "Patient"},
            {"type": "Subscription", "extension": ext}
        ]}]})
    }

    #[test]
    fn fhirdir_s_own_topic_first_then_ndh_s_then_none() {
        let fhirdir = "http://fhirdir.org/topic/practitioner-create-update-delete";
        let ndh = "http://ndh.org/topic/practitioner-create-or-delete";
        let both = offered(&capability(&[ndh, fhirdir]));
        assert_eq!(
            choose(&both, "Practitioner"),
            Some(Chosen {
                canonical: fhirdir.into(),
                every_change: true
            })
        );
        // An NDH national directory: creates and deletes by events, updates by history.
        let ndh_only = offered(&capability(&[&format!("{ndh}|1.0.0")]));
        assert_eq!(ndh_only, [ndh]);
        assert_eq!(
            choose(&ndh_only, "Practitioner"),
            Some(Chosen {
                canonical: ndh.into(),
                every_change: false
            })
        );
        // No topic for the type (NDH has none for PractitionerRole).
        assert_eq!(choose(&ndh_only, "PractitionerRole"), None);
        // No topics listed: a fhirdir's own.
        assert_eq!(choose(&[], "Location").map(|c| c.every_change), Some(true));
        assert!(every_change(fhirdir));
        assert!(!every_change(ndh));
    }
}
