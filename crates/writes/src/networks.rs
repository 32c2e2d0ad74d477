//! Which networks a write touches, for the provider finder's per-network "last imported"
//! date (`network_activity`, see [`store::Store::network_activity`]): the network
//! Organization itself (Plan-Net `plannet-Network`: an Organization of type `ntwk`) and every
//! network a written resource cites through a network parameter (Plan-Net's `network` of
//! PractitionerRole, OrganizationAffiliation and InsurancePlan, InsurancePlan's
//! `plan-network` and `coverage-network`, the roles' `new-patient-network`).
//! Read from the index entries the pipeline already extracted, so no body is parsed again.

use std::collections::BTreeSet;

use search::{IndexEntry, IndexValue};

/// Plan-Net's organization type code for a network
/// (<https://hl7.org/fhir/us/davinci-pdex-plan-net/STU1.2/CodeSystem-OrgTypeCS.html>).
const NETWORK_TYPE: &str = "ntwk";

/// A write's network footprint, read before the write (the entries move into the store).
#[derive(Debug, Default)]
pub(crate) struct Touched {
    /// `Organization/id` of the networks cited.
    cited: BTreeSet<String>,
    /// The resource is itself a network Organization (its id is known after the write).
    is_network: bool,
}

impl Touched {
    pub(crate) fn of(resource_type: &str, index: &[IndexEntry]) -> Touched {
        let mut touched = Touched::default();
        for entry in index {
            let code = entry.param.code.as_str();
            match &entry.value {
                IndexValue::Reference {
                    target_type: Some(t),
                    target_id: Some(id),
                    ..
                } if t == "Organization" && (code == "network" || code.ends_with("-network")) => {
                    touched.cited.insert(format!("Organization/{id}"));
                }
                IndexValue::Token { code: Some(c), .. }
                    if resource_type == "Organization" && code == "type" && c == NETWORK_TYPE =>
                {
                    touched.is_network = true;
                }
                _ => {}
            }
        }
        touched
    }

    /// The networks touched, once the written resource's id is known.
    pub(crate) fn networks(self, id: &str, out: &mut BTreeSet<String>) {
        if self.is_network {
            out.insert(format!("Organization/{id}"));
        }
        out.extend(self.cited);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn entry(code: &str, value: IndexValue) -> IndexEntry {
        let kind = match value {
            IndexValue::Token { .. } => conformance::SearchParamType::Token,
            _ => conformance::SearchParamType::Reference,
        };
        let def = conformance::SearchParamDef {
            url: format!("urn:test:{code}"),
            code: code.to_owned(),
            base: Vec::new(),
            kind,
            expression: None,
            target: Vec::new(),
            modifier: Vec::new(),
            chain: Vec::new(),
            component: Vec::new(),
        };
        IndexEntry {
            param: Arc::new(def),
            value,
        }
    }

    fn reference(t: &str, id: &str) -> IndexValue {
        IndexValue::Reference {
            target_type: Some(t.to_owned()),
            target_id: Some(id.to_owned()),
            version: None,
            url: None,
            identifier_system: None,
            identifier_value: None,
        }
    }

    fn token(code: &str) -> IndexValue {
        IndexValue::Token {
            system: None,
            code: Some(code.to_owned()),
            display: None,
        }
    }

    fn networks(resource_type: &str, index: &[IndexEntry], id: &str) -> Vec<String> {
        let mut out = BTreeSet::new();
        Touched::of(resource_type, index).networks(id, &mut out);
        out.into_iter().collect()
    }

    #[test]
    fn network_parameters_and_network_organizations_count_and_nothing_else() {
        let role = [
            entry("network", reference("Organization", "n1")),
            entry("new-patient-network", reference("Organization", "n2")),
            entry("organization", reference("Organization", "o1")),
            entry("network", reference("Location", "l1")),
        ];
        assert_eq!(
            networks("PractitionerRole", &role, "r"),
            ["Organization/n1", "Organization/n2"]
        );
        let network = [entry("type", token("ntwk"))];
        assert_eq!(
            networks("Organization", &network, "n3"),
            ["Organization/n3"]
        );
        let facility = [entry("type", token("fac"))];
        assert!(networks("Organization", &facility, "o").is_empty());
        // A `type` token of another resource type is not an organization type.
        assert!(networks("Location", &network, "l").is_empty());
    }
}
