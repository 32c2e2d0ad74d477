//! The parameters of `$find-providers` (issue 20), as URL-decoded pairs from a GET query or a
//! POST form, checked into a [`FindQuery`].
//!
//! Strict by design: an operation, unlike a plain search, has no "ignore what you do not
//! understand" rule (<https://hl7.org/fhir/R4/operations.html#4.1.0.6>), and a provider
//! finder that silently dropped `langauge=es` would answer a different question. So an
//! unknown parameter, a repeated single-valued one, an empty value, or a value out of range
//! is a [`QueryError`] (HTTP 400) naming the parameter. Only `_format` and `_pretty`
//! (content negotiation, which the server handles before this) pass through unread.
//!
//! | parameter                | value                                          | default        |
//! |--------------------------|------------------------------------------------|----------------|
//! | `name`                   | practitioner or organization name (one string, commas are punctuation) | |
//! | `specialty`              | NUCC code or display text ([`SpecialtyWanted`])|                |
//! | `network`, `plan`        | lists of [`Target`]s, any of which             |                |
//! | `near` / `zip` / `city`+`state` | one [`Centre`]                          |                |
//! | `radius`                 | miles (`10`, `10mi`) or km (`40km`), > 0, ≤ [`MAX_RADIUS_MILES`] | [`DEFAULT_RADIUS_MILES`] |
//! | `accepting-new-patients` | `true` \| `false`                              | no filter      |
//! | `language`               | list of BCP 47 tags, any of which              |                |
//! | `type`                   | `individual` \| `facility` \| `pharmacy`       | all            |
//! | `sort`                   | `best_match` \| `distance` ([`Sort`])          | `best_match`   |
//! | `_count`                 | 1..=[`MAX_COUNT`]                              | [`DEFAULT_COUNT`] |
//! | `_offset`                | results to skip, 0..=u32::MAX                  | 0              |
//!
//! Lists take several values comma-separated, the parameter repeated, or both. Besides the
//! per-value rules: at most one of `near`, `zip`, `city`; `city` and `state` only together;
//! `radius` and `sort=distance` only with a centre; and at least one of `name`, `specialty`,
//! a centre, `network` or `plan` (a request with none would list the whole directory).

use serde::Serialize;

use crate::centre::{centre_of_city, centre_of_zip, parse_near, Centre};
use crate::distance::{bbox, KM_PER_MILE};
use crate::error::QueryError;
use crate::language::parse_language;
use crate::names::normalize_name;
use crate::specialty::{parse_specialty, SpecialtyWanted};
use crate::target::{parse_target, Target, TargetKind};
use crate::values::{list_items, MAX_LIST_VALUES};

/// `radius` when none is given, in miles (issue 20).
pub const DEFAULT_RADIUS_MILES: f64 = 25.0;
/// The largest `radius`, in miles: wider areas are not a "near me" question and would make
/// the store's bounding box cover half a continent.
pub const MAX_RADIUS_MILES: f64 = 500.0;
/// `_count` when none is given.
pub const DEFAULT_COUNT: u32 = 20;
/// The largest `_count`.
pub const MAX_COUNT: u32 = 100;
/// The longest `name` or `specialty` text, in characters (a bound on trigram work).
pub const MAX_TEXT_CHARS: usize = 200;

/// Every parameter `$find-providers` reads, in the order of the module table.
pub const PARAMETERS: &[&str] = &[
    "name",
    "specialty",
    "network",
    "plan",
    "near",
    "zip",
    "city",
    "state",
    "radius",
    "accepting-new-patients",
    "language",
    "type",
    "sort",
    "_count",
    "_offset",
];

/// How to name a centre, for messages.
const GIVE_A_CENTRE: &str = "give `near`, `zip`, or `city` and `state`";

/// Parameters that may be given several times (their values add up).
const LISTS: &[&str] = &["network", "plan", "language"];

/// Result order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Score first (see [`mod@crate::rank`]), then distance, then provider reference.
    #[default]
    BestMatch,
    /// Distance of the closest qualifying address first, then score, then reference.
    Distance,
}

/// `type`: which kind of provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderType {
    /// Practitioners (through PractitionerRole).
    Individual,
    /// Organizations providing care (through OrganizationAffiliation or HealthcareService).
    Facility,
    /// Pharmacies: facilities of a pharmacy kind.
    Pharmacy,
}

impl ProviderType {
    fn code(self) -> &'static str {
        match self {
            ProviderType::Individual => "individual",
            ProviderType::Facility => "facility",
            ProviderType::Pharmacy => "pharmacy",
        }
    }
}

/// A checked `$find-providers` request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindQuery {
    /// `name`, trimmed; it has at least one letter or digit.
    pub name: Option<String>,
    pub specialty: Option<SpecialtyWanted>,
    /// `network` values, without repeats, in the order given; empty: any network.
    pub networks: Vec<Target>,
    /// `plan` values, likewise (a plan stands for its networks).
    pub plans: Vec<Target>,
    pub centre: Option<Centre>,
    /// The search radius in miles; meaningful only with a centre.
    pub radius_miles: f64,
    /// `Some(true)`: only addresses where the role accepts new patients.
    pub accepting_new_patients: Option<bool>,
    /// Language tags in conventional case, without repeats; empty: any language.
    pub languages: Vec<String>,
    pub provider_type: Option<ProviderType>,
    pub sort: Sort,
    pub count: u32,
    pub offset: u32,
}

/// The raw single-valued parameters, each seen at most once.
#[derive(Default)]
struct Singles<'a> {
    values: Vec<(&'static str, &'a str)>,
}

impl<'a> Singles<'a> {
    fn get(&self, name: &str) -> Option<&'a str> {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }
}

impl FindQuery {
    /// Checks URL-decoded query or form pairs (see the module documentation).
    pub fn parse(params: &[(String, String)]) -> Result<FindQuery, QueryError> {
        let mut singles = Singles::default();
        let mut lists: Vec<(&'static str, &str)> = Vec::new();
        for (name, value) in params {
            if name.starts_with("_format") || name.starts_with("_pretty") {
                continue;
            }
            let Some(known) = PARAMETERS.iter().copied().find(|p| p == name) else {
                return Err(unknown(name));
            };
            let value = value.trim();
            if value.is_empty() {
                return Err(QueryError::new(
                    known,
                    format!("parameter `{known}` is empty; leave it out instead"),
                ));
            }
            if LISTS.contains(&known) {
                lists.push((known, value));
            } else if singles.get(known).is_some() {
                return Err(QueryError::new(
                    known,
                    format!("parameter `{known}` may appear only once"),
                ));
            } else {
                singles.values.push((known, value));
            }
        }

        let centre = parse_centre(&singles)?;
        let radius_miles = match singles.get("radius") {
            Some(_) if centre.is_none() => {
                return Err(QueryError::new(
                    "radius",
                    format!("parameter `radius` needs a centre: {GIVE_A_CENTRE}"),
                ))
            }
            Some(r) => parse_radius(r)?,
            None => DEFAULT_RADIUS_MILES,
        };
        let query = FindQuery {
            name: singles.get("name").map(parse_name).transpose()?,
            specialty: singles
                .get("specialty")
                .map(|s| {
                    check_length("specialty", s)?;
                    parse_specialty(s)
                })
                .transpose()?,
            networks: parse_list(&lists, "network", |i| parse_target(TargetKind::Network, i))?,
            plans: parse_list(&lists, "plan", |i| parse_target(TargetKind::Plan, i))?,
            radius_miles,
            centre,
            accepting_new_patients: singles
                .get("accepting-new-patients")
                .map(parse_accepting)
                .transpose()?,
            languages: parse_list(&lists, "language", parse_language)?,
            provider_type: singles.get("type").map(parse_type).transpose()?,
            sort: singles
                .get("sort")
                .map(parse_sort)
                .transpose()?
                .unwrap_or_default(),
            count: singles
                .get("_count")
                .map(parse_count)
                .transpose()?
                .unwrap_or(DEFAULT_COUNT),
            offset: singles
                .get("_offset")
                .map(|v| whole_number("_offset", v, "a whole number of results to skip, 0 or more"))
                .transpose()?
                .unwrap_or(0),
        };
        if query.sort == Sort::Distance && query.centre.is_none() {
            return Err(QueryError::new(
                "sort",
                format!("parameter `sort=distance` needs a centre: {GIVE_A_CENTRE}"),
            ));
        }
        if query.name.is_none()
            && query.specialty.is_none()
            && query.centre.is_none()
            && query.networks.is_empty()
            && query.plans.is_empty()
        {
            return Err(QueryError::request(
                "say what to find: give at least one of `name`, `specialty`, `near`, `zip`, `city` and `state`, `network` or `plan`",
            ));
        }
        Ok(query)
    }

    /// The search area as a latitude/longitude box for an index range scan, when there is a
    /// centre (see [`crate::distance::bbox`]; recheck each point with
    /// [`crate::distance::miles_between`]).
    #[must_use]
    pub fn bbox(&self) -> Option<(f64, f64, f64, f64)> {
        self.centre
            .as_ref()
            .map(|c| bbox((c.lat, c.lon), self.radius_miles))
    }

    /// This query as canonical pairs, without `_offset`: the base of the Bundle's `self`,
    /// `next` and `previous` links (add `_offset`). Parsing them gives this query back with
    /// offset 0, so a page link cannot drift from the query it pages.
    #[must_use]
    pub fn link_pairs(&self) -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut push = |name: &str, value: String| pairs.push((name.to_owned(), value));
        if let Some(name) = &self.name {
            push("name", name.clone());
        }
        if let Some(specialty) = &self.specialty {
            push("specialty", specialty.render().to_owned());
        }
        for (param, targets) in [("network", &self.networks), ("plan", &self.plans)] {
            if !targets.is_empty() {
                let rendered: Vec<String> = targets.iter().map(Target::render).collect();
                push(param, rendered.join(","));
            }
        }
        if let Some(centre) = &self.centre {
            for (name, value) in centre.pairs() {
                push(&name, value);
            }
            push("radius", self.radius_miles.to_string());
        }
        if let Some(accepting) = self.accepting_new_patients {
            push("accepting-new-patients", accepting.to_string());
        }
        if !self.languages.is_empty() {
            push("language", self.languages.join(","));
        }
        if let Some(kind) = self.provider_type {
            push("type", kind.code().to_owned());
        }
        if self.sort == Sort::Distance {
            push("sort", "distance".to_owned());
        }
        push("_count", self.count.to_string());
        pairs
    }
}

fn unknown(name: &str) -> QueryError {
    let hint = if name.contains(':') {
        " (modifiers are not supported)"
    } else {
        ""
    };
    QueryError::new(
        name,
        format!(
            "unknown parameter `{name}`{hint}; $find-providers takes {}",
            PARAMETERS.join(", ")
        ),
    )
}

fn check_length(param: &str, value: &str) -> Result<(), QueryError> {
    if value.chars().count() > MAX_TEXT_CHARS {
        return Err(QueryError::new(
            param,
            format!("parameter `{param}` is longer than {MAX_TEXT_CHARS} characters"),
        ));
    }
    Ok(())
}

fn parse_name(value: &str) -> Result<String, QueryError> {
    check_length("name", value)?;
    if normalize_name(value).is_empty() {
        return Err(QueryError::new(
            "name",
            format!("parameter `name`: `{value}` has no letter or digit to match"),
        ));
    }
    Ok(value.to_owned())
}

/// Every item of list parameter `param`, over all its occurrences, parsed, without repeats.
fn parse_list<T: PartialEq>(
    lists: &[(&'static str, &str)],
    param: &str,
    parse: impl Fn(&str) -> Result<T, QueryError>,
) -> Result<Vec<T>, QueryError> {
    let mut out = Vec::new();
    let mut seen = 0;
    for (_, raw) in lists.iter().filter(|(n, _)| *n == param) {
        for item in list_items(param, raw)? {
            seen += 1;
            if seen > MAX_LIST_VALUES {
                return Err(QueryError::new(
                    param,
                    format!("parameter `{param}` has more than {MAX_LIST_VALUES} values"),
                ));
            }
            let value = parse(item)?;
            if !out.contains(&value) {
                out.push(value);
            }
        }
    }
    Ok(out)
}

fn parse_centre(singles: &Singles<'_>) -> Result<Option<Centre>, QueryError> {
    let (near, zip, city, state) = (
        singles.get("near"),
        singles.get("zip"),
        singles.get("city"),
        singles.get("state"),
    );
    let given: Vec<&str> = [("near", near), ("zip", zip), ("city", city)]
        .into_iter()
        .filter_map(|(n, v)| v.map(|_| n))
        .collect();
    if let [_, second, ..] = given.as_slice() {
        return Err(QueryError::new(
            second,
            format!(
                "parameters `{}` name the centre twice; give only one of `near`, `zip`, or `city` and `state`",
                given.join("` and `")
            ),
        ));
    }
    match (near, zip, city, state) {
        (_, _, Some(_), None) => Err(QueryError::new(
            "city",
            "parameter `city` needs `state` too (several states have a Springfield)",
        )),
        (_, _, None, Some(_)) => Err(QueryError::new(
            "state",
            "parameter `state` needs `city` too; for a whole state give `near` and a `radius`",
        )),
        (Some(near), _, _, _) => parse_near(near).map(Some),
        (_, Some(zip), _, _) => centre_of_zip(zip).map(Some),
        (_, _, Some(city), Some(state)) => centre_of_city(city, state).map(Some),
        (None, None, None, None) => Ok(None),
    }
}

/// `radius`: a number of miles, with an optional `mi` or `km` unit.
fn parse_radius(raw: &str) -> Result<f64, QueryError> {
    let lower = raw.to_ascii_lowercase();
    let (number, per_unit_miles) = if let Some(n) = lower.strip_suffix("km") {
        (n, 1.0 / KM_PER_MILE)
    } else if let Some(n) = lower.strip_suffix("mi") {
        (n, 1.0)
    } else {
        (lower.as_str(), 1.0)
    };
    let miles = number
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
        .map(|n| n * per_unit_miles);
    match miles {
        Some(m) if m > 0.0 && m <= MAX_RADIUS_MILES => Ok(m),
        Some(_) => Err(QueryError::new(
            "radius",
            format!(
                "parameter `radius`: `{raw}` is out of range; it must be more than 0 and at most {MAX_RADIUS_MILES} miles"
            ),
        )),
        None => Err(QueryError::new(
            "radius",
            format!(
                "parameter `radius`: `{raw}` is not a distance; give miles (`10`, `10mi`) or kilometres (`40km`)"
            ),
        )),
    }
}

fn parse_accepting(raw: &str) -> Result<bool, QueryError> {
    match raw {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(QueryError::new(
            "accepting-new-patients",
            format!("parameter `accepting-new-patients` must be `true` or `false`, not `{raw}`"),
        )),
    }
}

fn parse_type(raw: &str) -> Result<ProviderType, QueryError> {
    match raw {
        "individual" => Ok(ProviderType::Individual),
        "facility" => Ok(ProviderType::Facility),
        "pharmacy" => Ok(ProviderType::Pharmacy),
        _ => Err(QueryError::new(
            "type",
            format!("parameter `type` must be `individual`, `facility` or `pharmacy`, not `{raw}`"),
        )),
    }
}

fn parse_sort(raw: &str) -> Result<Sort, QueryError> {
    match raw {
        "best_match" => Ok(Sort::BestMatch),
        "distance" => Ok(Sort::Distance),
        _ => Err(QueryError::new(
            "sort",
            format!("parameter `sort` must be `best_match` or `distance`, not `{raw}`"),
        )),
    }
}

fn parse_count(raw: &str) -> Result<u32, QueryError> {
    let expected = format!("a whole number from 1 to {MAX_COUNT}");
    match whole_number("_count", raw, &expected)? {
        n @ 1..=MAX_COUNT => Ok(n),
        _ => Err(QueryError::new(
            "_count",
            format!("parameter `_count` must be {expected}, not `{raw}`"),
        )),
    }
}

/// Digits only (no sign, no decimals), fitting a `u32`.
fn whole_number(param: &str, raw: &str, expected: &str) -> Result<u32, QueryError> {
    raw.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| raw.parse::<u32>().ok())
        .flatten()
        .ok_or_else(|| {
            QueryError::new(
                param,
                format!("parameter `{param}` must be {expected}, not `{raw}`"),
            )
        })
}

#[cfg(test)]
mod tests;
