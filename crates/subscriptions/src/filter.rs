//! A Subscription's filters (`backport-filter-criteria`), evaluated in memory against one
//! version of a resource: the version of the event, and the previous one, so that a resource
//! leaving a filter is notified too. The criteria are search syntax, parsed by the search
//! crate against the tenant's parameters; a version matches when every criterion matches one
//! of the index entries the tenant's extractor takes from it, with the search's own rules
//! (<https://hl7.org/fhir/R4/search.html>) for string (prefix, `:exact`, `:contains`), token
//! (`code`, `system|code`, `|code`, `system|`, `:not`), reference, uri, date and number
//! values (prefixes included) and `:missing`. Chains, `_has` and the other result parameters
//! search other resources and are refused when the Subscription is written.

use conformance::{Registry, SearchParamType};
use search::filter::{Filter, Modifier, SearchValue};
use search::value::{Prefix, ReferenceValue, TokenSystem, TokenValue};
use search::{IndexEntry, IndexValue, SearchQuery};
use serde_json::Value;

use crate::subscription::SubscriptionError;

/// One filter of a Subscription, parsed.
#[derive(Debug, Clone)]
pub struct CompiledFilter {
    query: SearchQuery,
}

/// Parses `query` (a filter's criteria) as a search on `resource_type`.
pub fn compile(
    resource_type: &str,
    query: &str,
    registry: &Registry,
) -> Result<CompiledFilter, SubscriptionError> {
    let err = |m: String| SubscriptionError(format!("filter {query:?}: {m}"));
    let pairs = url_pairs(query).map_err(err)?;
    let parsed =
        SearchQuery::parse(resource_type, &pairs, registry).map_err(|e| err(e.to_string()))?;
    if let Some(u) = parsed.unknown.first() {
        return Err(err(format!("{} is not a search parameter here", u.name)));
    }
    if !parsed.include.is_empty() || !parsed.revinclude.is_empty() || !parsed.sort.is_empty() {
        return Err(err(
            "only search criteria are allowed, not _include, _revinclude or _sort".into(),
        ));
    }
    for c in &parsed.criteria {
        match &c.filter {
            Filter::Param { param, modifier, values } => {
                let supported_kind = matches!(
                    param.kind,
                    SearchParamType::String
                        | SearchParamType::Token
                        | SearchParamType::Reference
                        | SearchParamType::Uri
                        | SearchParamType::Date
                        | SearchParamType::Number
                );
                let supported_modifier = matches!(
                    modifier,
                    None | Some(Modifier::Exact | Modifier::Contains | Modifier::Missing | Modifier::Not | Modifier::Type(_))
                );
                let supported_values = values.iter().all(|v| {
                    matches!(
                        v,
                        SearchValue::String { .. }
                            | SearchValue::Token(_)
                            | SearchValue::Reference(_)
                            | SearchValue::Uri(_)
                            | SearchValue::Date { .. }
                            | SearchValue::Number { .. }
                            | SearchValue::Missing(_)
                    )
                });
                if !(supported_kind && supported_modifier && supported_values) {
                    return Err(err(format!("{} cannot be used in a subscription filter", c.name)));
                }
            }
            Filter::Chain { .. } | Filter::Has { .. } => {
                return Err(err(format!(
                    "{} searches other resources: chains and _has cannot be used in a subscription filter",
                    c.name
                )))
            }
        }
    }
    Ok(CompiledFilter { query: parsed })
}

/// `a=1&b=2` into pairs, percent-decoded (form encoding, as a search's query string).
fn url_pairs(query: &str) -> Result<Vec<(String, String)>, String> {
    serde_urlencoded::from_str(query).map_err(|e| e.to_string())
}

impl CompiledFilter {
    /// Whether `resource`, whose index entries are `entries`, meets every criterion.
    pub fn matches(&self, resource: &Value, entries: &[IndexEntry]) -> bool {
        self.query.criteria.iter().all(|c| match &c.filter {
            Filter::Param {
                param,
                modifier,
                values,
            } => {
                if param.code == "_id" {
                    let id = resource["id"].as_str().unwrap_or_default();
                    return values.iter().any(|v| match v {
                        SearchValue::Token(t) => t.code.as_deref() == Some(id),
                        _ => false,
                    });
                }
                let mine: Vec<&IndexValue> = entries
                    .iter()
                    .filter(|e| e.param.code == param.code)
                    .map(|e| &e.value)
                    .collect();
                if let Some(Modifier::Missing) = modifier {
                    return values
                        .iter()
                        .any(|v| matches!(v, SearchValue::Missing(m) if *m == mine.is_empty()));
                }
                let any = values
                    .iter()
                    .any(|v| mine.iter().any(|m| value_matches(modifier.as_ref(), v, m)));
                if let Some(Modifier::Not) = modifier {
                    // `:not`: no value of the resource equals any of the values.
                    let equal = values
                        .iter()
                        .any(|v| mine.iter().any(|m| value_matches(None, v, m)));
                    return !equal;
                }
                any
            }
            // Refused by `compile`.
            Filter::Chain { .. } | Filter::Has { .. } => false,
        })
    }
}

fn value_matches(modifier: Option<&Modifier>, search: &SearchValue, value: &IndexValue) -> bool {
    match (search, value) {
        (
            SearchValue::String { exact, normalized },
            IndexValue::String {
                normalized: n,
                exact: e,
            },
        ) => match modifier {
            Some(Modifier::Exact) => e == exact,
            Some(Modifier::Contains) => n.contains(normalized.as_str()),
            _ => n.starts_with(normalized.as_str()),
        },
        (SearchValue::Token(t), IndexValue::Token { system, code, .. }) => {
            token_matches(t, system.as_deref(), code.as_deref())
        }
        (
            SearchValue::Reference(r),
            IndexValue::Reference {
                target_type,
                target_id,
                url,
                ..
            },
        ) => reference_matches(
            modifier,
            r,
            target_type.as_deref(),
            target_id.as_deref(),
            url.as_deref(),
        ),
        (SearchValue::Uri(u), IndexValue::Uri(v)) => u == v,
        (SearchValue::Date { prefix, value }, IndexValue::Date { low, high }) => {
            prefix.matches((value.range.low, value.range.high), (*low, *high))
        }
        (SearchValue::Number { prefix, value }, IndexValue::Number { low, high, .. }) => {
            let search = if *prefix == Prefix::Eq || *prefix == Prefix::Ne {
                (value.low, value.high)
            } else {
                (value.value, value.value)
            };
            prefix.matches(search, (*low, *high))
        }
        _ => false,
    }
}

fn token_matches(t: &TokenValue, system: Option<&str>, code: Option<&str>) -> bool {
    let system_ok = match &t.system {
        TokenSystem::Any => true,
        TokenSystem::None => system.is_none(),
        TokenSystem::Is(s) => system == Some(s.as_str()),
    };
    system_ok && t.code.as_deref().is_none_or(|c| code == Some(c))
}

fn reference_matches(
    modifier: Option<&Modifier>,
    r: &ReferenceValue,
    target_type: Option<&str>,
    target_id: Option<&str>,
    url: Option<&str>,
) -> bool {
    if let (Some(u), Some(v)) = (&r.url, url) {
        if u == v {
            return true;
        }
    }
    let wanted_type = match modifier {
        Some(Modifier::Type(t)) => Some(t.as_str()),
        _ => r.resource_type.as_deref(),
    };
    let type_ok = wanted_type.is_none_or(|t| target_type == Some(t));
    type_ok && r.id.is_some() && r.id.as_deref() == target_id
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn registry() -> Registry {
        Registry::builtin()
    }

    fn check(query: &str, resource: &Value) -> bool {
        let reg = registry();
        let f = compile("Practitioner", query, &reg).expect(query);
        let entries = search::extract(resource, &reg);
        f.matches(resource, &entries)
    }

    #[test]
    fn criteria_match_as_searches_do() {
        let p = json!({"resourceType": "Practitioner", "id": "p1", "active": true,
            "name": [{"family": "Smith", "given": ["Ann"]}], "gender": "female",
            "birthDate": "1970-05-01",
            "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "123"}]});
        for (q, expected) in [
            ("family=smi", true),
            ("family=smith", true),
            ("family:exact=smith", false),
            ("family:exact=Smith", true),
            ("name:contains=mit", true),
            ("family=jones", false),
            ("gender=female", true),
            ("gender=male,female", true),
            ("gender:not=female", false),
            ("gender:not=male", true),
            ("identifier=http://hl7.org/fhir/sid/us-npi|123", true),
            ("identifier=other|123", false),
            ("identifier=|123", false),
            ("family=smith&gender=male", false),
            ("active=true", true),
            ("_id=p1", true),
            ("_id=p2", false),
            ("email:missing=true", true),
            ("family:missing=true", false),
            ("given=ann%20", true),
        ] {
            assert_eq!(check(q, &p), expected, "{q}");
        }
    }

    #[test]
    fn dates_compare_with_their_prefixes() {
        let reg = registry();
        let role = json!({"resourceType": "PractitionerRole", "id": "r",
            "period": {"start": "2020-03-01", "end": "2020-09-30"}});
        let entries = search::extract(&role, &reg);
        for (q, expected) in [
            ("date=2020", true),
            ("date=lt2019", false),
            ("date=ge2019", true),
            ("date=gt2021", false),
        ] {
            let f = compile("PractitionerRole", q, &reg).expect(q);
            assert_eq!(f.matches(&role, &entries), expected, "{q}");
        }
    }

    #[test]
    fn criteria_that_search_elsewhere_are_refused() {
        let reg = registry();
        for q in [
            "organization.name=x",
            "_has:PractitionerRole:practitioner:specialty=x",
            "_include=x",
            "nope=1",
        ] {
            assert!(compile("PractitionerRole", q, &reg).is_err(), "{q}");
        }
        assert!(compile("PractitionerRole", "specialty=207Q00000X&active=true", &reg).is_ok());
    }
}
