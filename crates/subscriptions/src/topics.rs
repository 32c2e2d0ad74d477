//! The subscription topics fhirdir offers: NDH's (<https://hl7.org/fhir/us/ndh/STU1/>,
//! "Directory to Directory Subscriptions") and one create-update-delete topic per directory
//! resource type under fhirdir's own canonical base. R4 has no SubscriptionTopic resource; the
//! backport publishes topics as `Basic` resources ([`Topic::basic`]) and lists their
//! canonicals in the CapabilityStatement.

use serde_json::{json, Value};

/// What a change did (the crate's own view of a store change event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Delete,
}

/// Which changes of its type a topic fires on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Create and delete (NDH `...-create-or-delete`).
    CreateOrDelete,
    /// Create, update and delete (fhirdir's own topics).
    Any,
    /// Create and delete of networks: Organizations typed `ntwk` (NDH `network-...`).
    NetworkCreateOrDelete,
    /// A resource with qualifications created or deleted, or its qualifications changed
    /// (NDH `...-qualification-create-modified-or-delete`).
    Qualification,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    pub canonical: String,
    pub resource_type: &'static str,
    pub trigger: Trigger,
    pub title: String,
}

/// fhirdir's own topics: `{FHIRDIR_BASE}{type, lower case}-create-update-delete`.
pub const FHIRDIR_BASE: &str = "http://fhirdir.org/topic/";

/// NDH's topics' base.
pub const NDH_BASE: &str = "http://ndh.org/topic/";

/// The directory resource types (Plan-Net, NDH, VHDir), each with a topic of fhirdir's own.
pub const DIRECTORY_TYPES: &[&str] = &[
    "CareTeam",
    "Endpoint",
    "HealthcareService",
    "InsurancePlan",
    "Location",
    "Organization",
    "OrganizationAffiliation",
    "Practitioner",
    "PractitionerRole",
    "VerificationResult",
];

/// NDH's create-or-delete topics: (name, type).
const NDH_CREATE_OR_DELETE: &[(&str, &str)] = &[
    ("practitioner", "Practitioner"),
    ("organization", "Organization"),
    ("location", "Location"),
    ("endpoint", "Endpoint"),
    ("healthcareservice", "HealthcareService"),
    ("insuranceplan", "InsurancePlan"),
];

/// Every topic, NDH's first.
pub fn all() -> Vec<Topic> {
    let mut out: Vec<Topic> = NDH_CREATE_OR_DELETE
        .iter()
        .map(|(name, t)| Topic {
            canonical: format!("{NDH_BASE}{name}-create-or-delete"),
            resource_type: t,
            trigger: Trigger::CreateOrDelete,
            title: format!("{t} created or deleted"),
        })
        .collect();
    out.push(Topic {
        canonical: format!("{NDH_BASE}network-create-or-delete"),
        resource_type: "Organization",
        trigger: Trigger::NetworkCreateOrDelete,
        title: "Network (Organization typed ntwk) created or deleted".into(),
    });
    for (name, t) in [
        ("practitioner", "Practitioner"),
        ("organization", "Organization"),
    ] {
        out.push(Topic {
            canonical: format!("{NDH_BASE}{name}-qualification-create-modified-or-delete"),
            resource_type: t,
            trigger: Trigger::Qualification,
            title: format!("{t} qualification created, modified or deleted"),
        });
    }
    out.extend(DIRECTORY_TYPES.iter().map(|t| Topic {
        canonical: format!(
            "{FHIRDIR_BASE}{}-create-update-delete",
            t.to_ascii_lowercase()
        ),
        resource_type: t,
        trigger: Trigger::Any,
        title: format!("{t} created, updated or deleted"),
    }));
    out
}

/// The topic of `canonical` (a `|version` suffix is ignored).
pub fn find(canonical: &str) -> Option<Topic> {
    let canonical = canonical.split('|').next().unwrap_or_default();
    all().into_iter().find(|t| t.canonical == canonical)
}

impl Topic {
    /// Whether [`Topic::fires`] reads the versions' bodies (or only the action).
    pub fn reads_bodies(&self) -> bool {
        matches!(
            self.trigger,
            Trigger::NetworkCreateOrDelete | Trigger::Qualification
        )
    }

    /// Whether a change fires this topic: `current` is the version written (none for a
    /// delete), `previous` the version before it (none for a create).
    pub fn fires(&self, action: Action, current: Option<&Value>, previous: Option<&Value>) -> bool {
        match self.trigger {
            Trigger::Any => true,
            Trigger::CreateOrDelete => action != Action::Update,
            Trigger::NetworkCreateOrDelete => match action {
                Action::Create => current.is_some_and(is_network),
                Action::Delete => previous.is_some_and(is_network),
                Action::Update => false,
            },
            Trigger::Qualification => {
                let now = current.map(qualifications).unwrap_or_default();
                let before = previous.map(qualifications).unwrap_or_default();
                match action {
                    Action::Create => !now.is_empty(),
                    Action::Delete => !before.is_empty(),
                    Action::Update => now != before,
                }
            }
        }
    }

    /// The topic as an R4 `Basic` resource (the backport's representation of a
    /// SubscriptionTopic in R4), with id `id`.
    pub fn basic(&self, id: &str) -> Value {
        let ext = |name: &str, value: Value| {
            let mut e = json!({ "url": format!("http://hl7.org/fhir/5.0/StructureDefinition/extension-SubscriptionTopic.{name}") });
            if let (Some(obj), Some(v)) = (e.as_object_mut(), value.as_object()) {
                obj.extend(v.clone());
            }
            e
        };
        let interactions: &[&str] = match self.trigger {
            Trigger::Any | Trigger::Qualification => &["create", "update", "delete"],
            Trigger::CreateOrDelete | Trigger::NetworkCreateOrDelete => &["create", "delete"],
        };
        let trigger = json!({
            "url": "http://hl7.org/fhir/5.0/StructureDefinition/extension-SubscriptionTopic.resourceTrigger",
            "extension": std::iter::once(json!({"url": "resource", "valueUri": self.resource_type}))
                .chain(interactions.iter().map(|i| json!({"url": "supportedInteraction", "valueCode": i})))
                .collect::<Vec<_>>()
        });
        json!({
            "resourceType": "Basic",
            "id": id,
            "code": {"coding": [{
                "system": "http://hl7.org/fhir/fhir-types",
                "code": "SubscriptionTopic"
            }]},
            "extension": [
                ext("url", json!({"valueUri": self.canonical})),
                ext("title", json!({"valueString": self.title})),
                ext("status", json!({"valueCode": "active"})),
                trigger
            ]
        })
    }
}

/// An NDH network: an Organization typed `ntwk` (NDH OrgTypeCS, as Plan-Net's).
fn is_network(resource: &Value) -> bool {
    resource["type"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| t["coding"].as_array().into_iter().flatten())
        .any(|c| c["code"] == "ntwk")
}

/// A resource's qualifications: the `qualification` element (Practitioner) and the
/// extensions whose URL names a qualification (NDH's Organization qualification).
fn qualifications(resource: &Value) -> Vec<Value> {
    let mut out: Vec<Value> = resource["qualification"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    out.extend(
        resource["extension"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| {
                e["url"]
                    .as_str()
                    .is_some_and(|u| u.ends_with("qualification"))
            })
            .cloned(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_canonical_names_one_topic_and_versions_are_ignored() {
        let topics = all();
        let mut canonicals: Vec<&str> = topics.iter().map(|t| t.canonical.as_str()).collect();
        canonicals.sort_unstable();
        canonicals.dedup();
        assert_eq!(canonicals.len(), topics.len());
        let t = find("http://ndh.org/topic/practitioner-create-or-delete|1.0.0").expect("topic");
        assert_eq!(t.resource_type, "Practitioner");
        assert!(find("http://fhirdir.org/topic/location-create-update-delete").is_some());
        assert!(find("http://ndh.org/topic/nothing").is_none());
    }

    #[test]
    fn triggers_fire_on_their_changes_only() {
        let t = find("http://ndh.org/topic/practitioner-create-or-delete").unwrap();
        let p = json!({"resourceType": "Practitioner"});
        assert!(t.fires(Action::Create, Some(&p), None));
        assert!(!t.fires(Action::Update, Some(&p), Some(&p)));
        assert!(t.fires(Action::Delete, None, Some(&p)));

        let net = find("http://ndh.org/topic/network-create-or-delete").unwrap();
        let n = json!({"resourceType": "Organization", "type": [{"coding": [{"code": "ntwk"}]}]});
        let o = json!({"resourceType": "Organization", "type": [{"coding": [{"code": "prov"}]}]});
        assert!(net.fires(Action::Create, Some(&n), None));
        assert!(!net.fires(Action::Create, Some(&o), None));
        assert!(net.fires(Action::Delete, None, Some(&n)));

        let q = find("http://ndh.org/topic/practitioner-qualification-create-modified-or-delete")
            .unwrap();
        let with = json!({"qualification": [{"code": {"text": "MD"}}]});
        let other = json!({"qualification": [{"code": {"text": "DO"}}]});
        let without = json!({"name": [{"family": "X"}]});
        assert!(q.fires(Action::Create, Some(&with), None));
        assert!(!q.fires(Action::Create, Some(&without), None));
        assert!(q.fires(Action::Update, Some(&other), Some(&with)));
        assert!(!q.fires(Action::Update, Some(&with), Some(&with)));
        assert!(q.fires(Action::Delete, None, Some(&with)));
    }
}
