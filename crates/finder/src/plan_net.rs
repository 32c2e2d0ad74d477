//! What the finder reads from Da Vinci PDex Plan-Net resources
//! (<https://hl7.org/fhir/us/davinci-pdex-plan-net/STU1.2/>): the roles that make a provider
//! findable (PractitionerRole for practitioners, OrganizationAffiliation for facilities and
//! pharmacies), their networks, sites and new-patient status, and the providers' names and
//! languages. Plain readers over JSON; a missing or malformed element reads as absent, since
//! a directory's data is what its writers made it.

use serde_json::Value;

/// The `network-reference` extension on PractitionerRole (and other Plan-Net resources).
pub const NETWORK_REFERENCE: &str =
    "http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition/network-reference";

/// The `newpatients` extension (PractitionerRole, HealthcareService, Location).
pub const NEW_PATIENTS: &str =
    "http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition/newpatients";

/// `AcceptingPatientsCS#newpt`: accepting new patients.
pub const ACCEPTING: &str = "newpt";

/// The OrganizationAffiliation role of a pharmacy (`OrganizationAffiliationRoleCS#pharmacy`).
pub const PHARMACY_ROLE: &str = "pharmacy";

/// A reference with the display the writer gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cited {
    /// Relative reference, `Type/id`.
    pub reference: String,
    pub display: Option<String>,
}

fn cited(value: &Value) -> Option<Cited> {
    let reference = value.get("reference")?.as_str()?;
    if reference.split('/').count() != 2 || reference.ends_with('/') {
        return None;
    }
    Some(Cited {
        reference: reference.to_owned(),
        display: value
            .get("display")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

/// [`cited`] when the reference names a resource of type `ty`: a role's site is a Location
/// whatever its writer put there, so nothing else is ever read as one.
fn cited_as(value: &Value, ty: &str) -> Option<Cited> {
    cited(value).filter(|c| c.reference.split_once('/').is_some_and(|(t, _)| t == ty))
}

fn array<'a>(resource: &'a Value, field: &str) -> impl Iterator<Item = &'a Value> {
    resource
        .get(field)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn extensions<'a>(resource: &'a Value, url: &'a str) -> impl Iterator<Item = &'a Value> {
    array(resource, "extension").filter(move |e| e.get("url").and_then(Value::as_str) == Some(url))
}

/// The provider a role makes findable: `PractitionerRole.practitioner` or
/// `OrganizationAffiliation.participatingOrganization`.
#[must_use]
pub fn provider_of(role: &Value) -> Option<Cited> {
    match role.get("resourceType")?.as_str()? {
        "PractitionerRole" => cited_as(role.get("practitioner")?, "Practitioner"),
        "OrganizationAffiliation" => {
            cited_as(role.get("participatingOrganization")?, "Organization")
        }
        _ => None,
    }
}

/// The networks of a role: PractitionerRole's `network-reference` extensions,
/// OrganizationAffiliation's `network`.
#[must_use]
pub fn networks_of(role: &Value) -> Vec<Cited> {
    let mut out: Vec<Cited> = extensions(role, NETWORK_REFERENCE)
        .filter_map(|e| cited_as(e.get("valueReference")?, "Organization"))
        .chain(array(role, "network").filter_map(|n| cited_as(n, "Organization")))
        .collect();
    out.dedup_by(|a, b| a.reference == b.reference);
    out
}

/// The role's sites (`location`).
#[must_use]
pub fn locations_of(role: &Value) -> Vec<Cited> {
    array(role, "location")
        .filter_map(|l| cited_as(l, "Location"))
        .collect()
}

/// An OrganizationAffiliation's services (`healthcareService`).
#[must_use]
pub fn services_of(role: &Value) -> Vec<Cited> {
    array(role, "healthcareService")
        .filter_map(|s| cited_as(s, "HealthcareService"))
        .collect()
}

/// Whether a role's role codes include `code` (`OrganizationAffiliation.code`).
#[must_use]
pub fn has_role_code(role: &Value, code: &str) -> bool {
    array(role, "code")
        .flat_map(|c| array(c, "coding"))
        .any(|c| c.get("code").and_then(Value::as_str) == Some(code))
}

/// How a resource (a role or a service) accepts new patients: for each `newpatients`
/// extension saying `newpt`, the network it is limited to (`fromNetwork`), if any.
/// Empty: not accepting (or not said).
#[must_use]
pub fn accepting_new_patients(resource: &Value) -> Vec<Option<String>> {
    extensions(resource, NEW_PATIENTS)
        .filter(|e| {
            array(e, "extension").any(|x| {
                x.get("url").and_then(Value::as_str) == Some("acceptingPatients")
                    && array(
                        x.get("valueCodeableConcept").unwrap_or(&Value::Null),
                        "coding",
                    )
                    .any(|c| c.get("code").and_then(Value::as_str) == Some(ACCEPTING))
            })
        })
        .map(|e| {
            array(e, "extension")
                .find(|x| x.get("url").and_then(Value::as_str) == Some("fromNetwork"))
                .and_then(|x| cited_as(x.get("valueReference")?, "Organization"))
                .map(|c| c.reference)
        })
        .collect()
}

/// Whether `accepting` (from [`accepting_new_patients`]) covers `network` (`None`: a role
/// with no network).
#[must_use]
pub fn accepts_in(accepting: &[Option<String>], network: Option<&str>) -> bool {
    accepting
        .iter()
        .any(|from| from.is_none() || from.as_deref() == network)
}

/// A provider's names as written: each `HumanName` (its `text`, else prefix, given and family
/// joined) of a Practitioner; `name` and each `alias` of an Organization.
#[must_use]
pub fn names_of(provider: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(name) = provider.get("name") {
        match name {
            Value::String(s) => out.push(s.clone()),
            Value::Array(names) => {
                for n in names {
                    if let Some(text) = n.get("text").and_then(Value::as_str) {
                        out.push(text.to_owned());
                        continue;
                    }
                    let parts: Vec<&str> = array(n, "given")
                        .chain(n.get("family"))
                        .filter_map(Value::as_str)
                        .collect();
                    if !parts.is_empty() {
                        out.push(parts.join(" "));
                    }
                }
            }
            _ => {}
        }
    }
    out.extend(
        array(provider, "alias")
            .filter_map(Value::as_str)
            .map(str::to_owned),
    );
    out
}

/// The language tags of a resource's `communication` (Practitioner: BackboneElements with a
/// `language`; HealthcareService: CodeableConcepts).
#[must_use]
pub fn languages_of(resource: &Value) -> Vec<String> {
    array(resource, "communication")
        .map(|c| c.get("language").unwrap_or(c))
        .flat_map(|cc| array(cc, "coding"))
        .filter_map(|c| c.get("code").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

/// `Location.position` as `(latitude, longitude)`.
#[must_use]
pub fn position_of(location: &Value) -> Option<(f64, f64)> {
    let p = location.get("position")?;
    let lat = p.get("latitude")?.as_f64()?;
    let lon = p.get("longitude")?.as_f64()?;
    ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)).then_some((lat, lon))
}

/// Whether the resource says it is inactive (`active: false`).
#[must_use]
pub fn inactive(resource: &Value) -> bool {
    resource.get("active").and_then(Value::as_bool) == Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_practitioner_role_is_read() {
        let role = json!({
            "resourceType": "PractitionerRole",
            "practitioner": {"reference": "Practitioner/p1", "display": "Ann Lee"},
            "extension": [
                {"url": NETWORK_REFERENCE, "valueReference": {"reference": "Organization/n1", "display": "Net 1"}},
                {"url": NEW_PATIENTS, "extension": [
                    {"url": "acceptingPatients", "valueCodeableConcept": {"coding": [{"code": "newpt"}]}},
                    {"url": "fromNetwork", "valueReference": {"reference": "Organization/n1"}}
                ]}
            ],
            "location": [{"reference": "Location/l1"}, {"display": "no reference"},
                         {"reference": "Patient/x"}]
        });
        assert_eq!(provider_of(&role).unwrap().reference, "Practitioner/p1");
        let networks = networks_of(&role);
        assert_eq!(networks.len(), 1);
        assert_eq!(networks[0].display.as_deref(), Some("Net 1"));
        assert_eq!(locations_of(&role).len(), 1);
        let accepting = accepting_new_patients(&role);
        assert!(accepts_in(&accepting, Some("Organization/n1")));
        assert!(!accepts_in(&accepting, Some("Organization/n2")));
        assert!(!accepts_in(&accepting, None));
    }

    #[test]
    fn not_accepting_and_names_and_languages() {
        let role = json!({"extension": [{"url": NEW_PATIENTS, "extension": [
            {"url": "acceptingPatients", "valueCodeableConcept": {"coding": [{"code": "nopt"}]}}
        ]}]});
        assert!(accepting_new_patients(&role).is_empty());
        let p = json!({"name": [{"given": ["Ann", "B."], "family": "Lee"}, {"text": "Dr. Ann Lee"}],
                       "communication": [{"language": {"coding": [{"code": "es"}]}}]});
        assert_eq!(names_of(&p), ["Ann B. Lee", "Dr. Ann Lee"]);
        assert_eq!(languages_of(&p), ["es"]);
        let org = json!({"name": "Main Street Pharmacy", "alias": ["MSP"]});
        assert_eq!(names_of(&org), ["Main Street Pharmacy", "MSP"]);
        let hs = json!({"communication": [{"coding": [{"code": "vi"}]}]});
        assert_eq!(languages_of(&hs), ["vi"]);
        assert_eq!(
            position_of(&json!({"position": {"latitude": 91.0, "longitude": 0.0}})),
            None
        );
    }
}
