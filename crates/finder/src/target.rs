//! The values of `network` and `plan`: which networks or plans the caller is a member of.
//!
//! In Da Vinci PDex Plan-Net a network is an Organization with the `plannet-Network` profile
//! (<http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition/plannet-Network>),
//! that roles cite with the `network-reference` extension, and a plan is an InsurancePlan
//! whose `network` lists them (<http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition/plannet-InsurancePlan>).
//! A value is either a relative reference (`Organization/x`, `InsurancePlan/y`; the type must
//! be the one the parameter names, so a plan passed as a network is a 400 rather than an
//! empty result) or an identifier `system|value`, written as in a FHIR token search
//! (<https://hl7.org/fhir/R4/search.html#token>), escapes included.

use serde::Serialize;

use crate::error::QueryError;
use crate::values::{escape, split_unescaped, unescape};

/// Which list parameter a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TargetKind {
    Network,
    Plan,
}

impl TargetKind {
    fn param(self) -> &'static str {
        match self {
            TargetKind::Network => "network",
            TargetKind::Plan => "plan",
        }
    }

    fn resource_type(self) -> &'static str {
        match self {
            TargetKind::Network => "Organization",
            TargetKind::Plan => "InsurancePlan",
        }
    }
}

/// One network or plan the caller asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    /// A resource of the tenant by logical id: `Organization` for `network`, `InsurancePlan`
    /// for `plan`.
    Reference {
        resource_type: &'static str,
        id: String,
    },
    /// Whatever resource of the parameter's type carries this identifier (both parts given;
    /// exact, case-sensitive, as a FHIR token match on `identifier`).
    Identifier { system: String, value: String },
}

impl Target {
    /// The relative reference (`Organization/x`) for a [`Target::Reference`].
    #[must_use]
    pub fn reference(&self) -> Option<String> {
        match self {
            Target::Reference { resource_type, id } => Some(format!("{resource_type}/{id}")),
            Target::Identifier { .. } => None,
        }
    }

    /// The value as a client would write it, escaped for a list (for links).
    pub(crate) fn render(&self) -> String {
        match self {
            Target::Reference { resource_type, id } => format!("{resource_type}/{id}"),
            Target::Identifier { system, value } => {
                format!("{}|{}", escape(system), escape(value))
            }
        }
    }
}

/// Parses one item of a `network` or `plan` list (escapes still in place).
pub(crate) fn parse_target(kind: TargetKind, item: &str) -> Result<Target, QueryError> {
    let param = kind.param();
    let parts = split_unescaped(item, '|');
    match parts.as_slice() {
        [reference] => parse_reference(kind, &unescape(param, reference)?),
        [system, value] => {
            let (system, value) = (unescape(param, system)?, unescape(param, value)?);
            if system.is_empty() || value.is_empty() {
                return Err(QueryError::new(
                    param,
                    format!(
                        "parameter `{param}`: identifier `{item}` needs both a system and a value (`system|value`)"
                    ),
                ));
            }
            Ok(Target::Identifier { system, value })
        }
        _ => Err(QueryError::new(
            param,
            format!(
                "parameter `{param}`: `{item}` has more than one `|`; write an identifier as `system|value` (escape a `|` inside either as `\\|`)"
            ),
        )),
    }
}

fn parse_reference(kind: TargetKind, text: &str) -> Result<Target, QueryError> {
    let (param, want) = (kind.param(), kind.resource_type());
    let Some((resource_type, id)) = text.split_once('/') else {
        return Err(QueryError::new(
            param,
            format!(
                "parameter `{param}`: `{text}` is neither a reference `{want}/[id]` nor an identifier `system|value`"
            ),
        ));
    };
    if resource_type != want {
        let hint = match kind {
            TargetKind::Network if resource_type == "InsurancePlan" => " (pass plans as `plan`)",
            TargetKind::Plan if resource_type == "Organization" => " (pass networks as `network`)",
            _ => "",
        };
        return Err(QueryError::new(
            param,
            format!("parameter `{param}`: `{text}` must reference an {want}{hint}"),
        ));
    }
    if !is_fhir_id(id) {
        return Err(QueryError::new(
            param,
            format!(
                "parameter `{param}`: `{id}` in `{text}` is not a resource id (1 to 64 of A-Z a-z 0-9 - .; a relative reference only, without a base URL or version)"
            ),
        ));
    }
    Ok(Target::Reference {
        resource_type: want,
        id: id.to_owned(),
    })
}

/// A FHIR logical id (<https://hl7.org/fhir/R4/datatypes.html#id>): `[A-Za-z0-9\-\.]{1,64}`.
fn is_fhir_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_and_identifiers_parse() {
        assert_eq!(
            parse_target(TargetKind::Network, "Organization/net-1"),
            Ok(Target::Reference {
                resource_type: "Organization",
                id: "net-1".to_owned()
            })
        );
        assert_eq!(
            parse_target(TargetKind::Plan, r"urn:oid:2.16|A\|B"),
            Ok(Target::Identifier {
                system: "urn:oid:2.16".to_owned(),
                value: "A|B".to_owned()
            })
        );
        let plan = parse_target(TargetKind::Plan, "InsurancePlan/p.1").expect("plan");
        assert_eq!(plan.reference().as_deref(), Some("InsurancePlan/p.1"));
    }

    #[test]
    fn a_reference_of_the_wrong_type_is_refused_with_a_hint() {
        let err = parse_target(TargetKind::Network, "InsurancePlan/y").expect_err("plan");
        assert_eq!(err.parameter(), Some("network"));
        assert!(err.message().contains("`plan`"), "{err}");
        let err = parse_target(TargetKind::Plan, "Organization/x").expect_err("org");
        assert_eq!(err.parameter(), Some("plan"));
        assert!(
            err.message().contains("must reference an InsurancePlan"),
            "{err}"
        );
        let err = parse_target(TargetKind::Plan, "Practitioner/x").expect_err("other");
        assert!(err.message().contains("`plan`"), "{err}");
    }

    #[test]
    fn malformed_values_are_refused_naming_the_parameter() {
        for bad in [
            "net-1",
            "Organization/",
            "Organization/a b",
            "Organization/x/_history/2",
            "http://example.org/fhir/Organization/x",
            "|value",
            "system|",
            "a|b|c",
            r"sys|bad\escape",
        ] {
            let err = parse_target(TargetKind::Network, bad).expect_err(bad);
            assert_eq!(err.parameter(), Some("network"), "{bad}");
            assert!(err.message().contains("`network`"), "{bad}: {err}");
        }
    }

    #[test]
    fn render_round_trips() {
        for text in ["Organization/x", r"http://a\|b|v\,1"] {
            let target = parse_target(TargetKind::Network, text).expect(text);
            assert_eq!(target.render(), text);
        }
    }
}
