//! FHIR JSON `SearchParameter` resources (<https://hl7.org/fhir/R4/searchparameter.html>) ->
//! [`SearchParamDef`], with the checks that make a definition usable by the indexer and the
//! query parser: a `url`, a `code` that fits in a query string, known `base` types, a known
//! `type`, and an `expression` our FHIRPath engine compiles.

use serde_json::Value;

use crate::search_param::{Component, SearchParamDef, SearchParamType};

/// Why a SearchParameter resource cannot be used; the message names the element.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidSearchParameter(pub String);

impl SearchParamDef {
    /// Reads a FHIR R4 `SearchParameter` resource.
    ///
    /// Elements fhirdir does not use (`name`, `status`, `xpath`, `comparator`, ...) are not
    /// checked. An `expression` is optional here (core defines `_text` and `_content` without
    /// one); it must compile when present.
    pub fn from_resource(resource: &Value) -> Result<SearchParamDef, InvalidSearchParameter> {
        let bad = |m: String| InvalidSearchParameter(m);
        if resource.get("resourceType").and_then(Value::as_str) != Some("SearchParameter") {
            return Err(bad("resourceType is not SearchParameter".into()));
        }
        let url = required_string(resource, "url")?;
        let code = required_string(resource, "code")?;
        if !code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(bad(format!(
                "SearchParameter.code {code:?} may only hold letters, digits, `-` and `_` \
                 (`.`, `:` and `,` have a meaning in search URLs)"
            )));
        }
        let base = strings(resource, "base")?;
        if base.is_empty() {
            return Err(bad("SearchParameter.base is required".into()));
        }
        if let Some(b) = base
            .iter()
            .find(|b| !fhir::is_resource_type(b) && *b != "Resource" && *b != "DomainResource")
        {
            return Err(bad(format!(
                "SearchParameter.base {b:?} is not an R4 resource type"
            )));
        }
        let kind_text = required_string(resource, "type")?;
        let kind: SearchParamType = serde_json::from_value(Value::String(kind_text.clone()))
            .map_err(|_| {
                bad(format!(
                    "SearchParameter.type {kind_text:?} is not a search parameter type"
                ))
            })?;
        let expression = match resource.get("expression") {
            None | Some(Value::Null) => None,
            Some(Value::String(e)) if !e.trim().is_empty() => {
                fhirpath::Expression::parse(e).map_err(|err| {
                    bad(format!(
                        "SearchParameter.expression {e:?} is not FHIRPath fhirdir understands: {err}"
                    ))
                })?;
                Some(e.clone())
            }
            Some(_) => {
                return Err(bad(
                    "SearchParameter.expression must be a non-empty string".into()
                ))
            }
        };
        // `Resource` (NDH's and VHDir's `verificationresult-target`) means any type, as a
        // parameter without targets does; the search crate reads it so.
        let target = strings(resource, "target")?;
        if let Some(t) = target
            .iter()
            .find(|t| !fhir::is_resource_type(t) && *t != "Resource")
        {
            return Err(bad(format!(
                "SearchParameter.target {t:?} is not an R4 resource type"
            )));
        }
        let component = match resource.get("component") {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let at = format!("SearchParameter.component[{i}]");
                    let expression = required_string(c, "expression")
                        .map_err(|e| bad(format!("{at}: {e}")))?;
                    // Each component is FHIRPath too: one that does not parse would fail
                    // every write of the base type at index time.
                    fhirpath::Expression::parse(&expression).map_err(|err| {
                        bad(format!(
                            "{at}.expression {expression:?} is not FHIRPath fhirdir understands: {err}"
                        ))
                    })?;
                    Ok(Component {
                        definition: required_string(c, "definition")
                            .map_err(|e| bad(format!("{at}: {e}")))?,
                        expression,
                    })
                })
                .collect::<Result<_, InvalidSearchParameter>>()?,
            Some(_) => return Err(bad("SearchParameter.component must be an array".into())),
        };
        Ok(SearchParamDef {
            url,
            code,
            base,
            kind,
            expression,
            target,
            modifier: strings(resource, "modifier")?,
            chain: strings(resource, "chain")?,
            component,
        })
    }
}

fn required_string(v: &Value, name: &str) -> Result<String, InvalidSearchParameter> {
    match v.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(Value::String(_)) | None | Some(Value::Null) => Err(InvalidSearchParameter(format!(
            "SearchParameter.{name} is required"
        ))),
        Some(_) => Err(InvalidSearchParameter(format!(
            "SearchParameter.{name} must be a string"
        ))),
    }
}

fn strings(v: &Value, name: &str) -> Result<Vec<String>, InvalidSearchParameter> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str().map(str::to_owned).ok_or_else(|| {
                    InvalidSearchParameter(format!("SearchParameter.{name} must hold strings"))
                })
            })
            .collect(),
        Some(_) => Err(InvalidSearchParameter(format!(
            "SearchParameter.{name} must be an array"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid() -> Value {
        json!({
            "resourceType": "SearchParameter",
            "url": "http://example.org/sp/org-alias",
            "name": "OrgAlias",
            "status": "active",
            "code": "alias",
            "base": ["Organization"],
            "type": "string",
            "expression": "Organization.alias",
            "modifier": ["exact", "contains"]
        })
    }

    #[test]
    fn a_valid_resource_becomes_a_definition() {
        let def = SearchParamDef::from_resource(&valid()).expect("valid");
        assert_eq!(def.url, "http://example.org/sp/org-alias");
        assert_eq!(def.code, "alias");
        assert_eq!(def.base, ["Organization"]);
        assert_eq!(def.kind, SearchParamType::String);
        assert_eq!(def.expression.as_deref(), Some("Organization.alias"));
        assert_eq!(def.modifier, ["exact", "contains"]);
    }

    #[test]
    fn invalid_resources_are_rejected_naming_the_element() {
        let cases: Vec<(&str, Value, &str)> = vec![
            ("no code", json!(null), "code"),
            ("bad code", json!("a.b"), "code"),
            ("bad type", json!("fancy"), "type"),
            ("bad base", json!(["Organisation"]), "base"),
            ("empty base", json!([]), "base"),
            (
                "bad expression",
                json!("Organization.alias.where("),
                "expression",
            ),
            ("no url", json!(null), "url"),
        ];
        for (what, value, element) in cases {
            let mut r = valid();
            let key = match what {
                "no code" | "bad code" => "code",
                "bad type" => "type",
                "bad base" | "empty base" => "base",
                "bad expression" => "expression",
                _ => "url",
            };
            if value.is_null() {
                r.as_object_mut().expect("object").remove(key);
            } else {
                r[key] = value;
            }
            let err = SearchParamDef::from_resource(&r).expect_err(what);
            assert!(
                err.0.contains(&format!("SearchParameter.{element}")),
                "{what}: {err}"
            );
        }
    }
}
