//! Ranking from the index alone: the store's candidate rows (role, provider, the site that
//! puts the role in the area, whether the role itself has the specialty) and, when a name was
//! asked, the providers' names, are enough for the score and the order
//! ([`crate::rank`]). The bodies of one page are then read to describe it
//! ([`crate::assemble`]).

use std::collections::{BTreeMap, HashMap};

use crate::distance::miles_between;
use crate::names::{name_match, NameMatch};
use crate::query::FindQuery;
use crate::rank::{best_specialty, closer, rank, Candidate, Criteria, Ranked, SpecialtyMatch};

/// One candidate row of the store.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleSite {
    /// `Type/id` of the role.
    pub role: String,
    /// `Type/id` of the provider.
    pub provider: String,
    /// `(Location/id, (lat, lon))` of the site in the area, when a centre was asked.
    pub site: Option<(String, (f64, f64))>,
    /// The role itself has the specialty (else only the provider's qualification does).
    pub role_specialty: bool,
}

/// The providers of `rows` that qualify, ranked: sites beyond the radius (the store's box is
/// wider than the circle) do not count, a provider whose names (`names`, when a name was
/// asked) do not come close is dropped. Also answers each provider's qualifying roles.
#[must_use]
pub fn prerank(
    query: &FindQuery,
    rows: &[RoleSite],
    names: Option<&HashMap<String, Vec<String>>>,
) -> (Vec<Ranked>, BTreeMap<String, Vec<String>>) {
    let mut best: BTreeMap<&str, Candidate> = BTreeMap::new();
    let mut roles: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in rows {
        let distance = match (&query.centre, &row.site) {
            (Some(c), Some((_, position))) => {
                let d = miles_between((c.lat, c.lon), *position);
                if d > query.radius_miles {
                    continue;
                }
                Some(d)
            }
            (Some(_), None) => continue,
            (None, _) => None,
        };
        let name = match (&query.name, names) {
            (Some(wanted), Some(names)) => {
                let level = names
                    .get(&row.provider)
                    .into_iter()
                    .flatten()
                    .map(|n| name_match(wanted, n))
                    .min()
                    .unwrap_or(NameMatch::None);
                if level == NameMatch::None {
                    continue;
                }
                Some(level)
            }
            _ => None,
        };
        let specialty = query.specialty.as_ref().map(|_| {
            if row.role_specialty {
                SpecialtyMatch::Role
            } else {
                SpecialtyMatch::Qualification
            }
        });
        let c = best.entry(&row.provider).or_insert_with(|| Candidate {
            provider_ref: row.provider.clone(),
            name_match: name,
            specialty_match: specialty,
            distance_miles: distance,
        });
        c.specialty_match = best_specialty(c.specialty_match, specialty);
        c.distance_miles = closer(c.distance_miles, distance);
        let list = roles.entry(row.provider.clone()).or_default();
        if !list.contains(&row.role) {
            list.push(row.role.clone());
        }
    }
    let ranked = rank(
        best.into_values().collect(),
        &Criteria::of(query),
        query.sort,
    );
    (ranked, roles)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> FindQuery {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        FindQuery::parse(&pairs).expect("query")
    }

    fn row(role: &str, provider: &str, at: (f64, f64), role_specialty: bool) -> RoleSite {
        RoleSite {
            role: role.to_owned(),
            provider: provider.to_owned(),
            site: Some((format!("Location/{role}"), at)),
            role_specialty,
        }
    }

    #[test]
    fn sites_beyond_the_radius_do_not_count_and_the_closest_does() {
        let q = query(&[
            ("near", "40|-75"),
            ("radius", "10"),
            ("specialty", "207RC0000X"),
        ]);
        let per_degree = crate::EARTH_RADIUS_MILES * std::f64::consts::PI / 180.0;
        let rows = [
            row(
                "r1",
                "Practitioner/a",
                (40.0 + 12.0 / per_degree, -75.0),
                true,
            ),
            row(
                "r2",
                "Practitioner/a",
                (40.0 + 3.0 / per_degree, -75.0),
                false,
            ),
            row(
                "r3",
                "Practitioner/b",
                (40.0 + 10.5 / per_degree, -75.0),
                true,
            ),
            row("r4", "Practitioner/c", (40.0, -75.0), true),
        ];
        let (ranked, roles) = prerank(&q, &rows, None);
        let order: Vec<&str> = ranked
            .iter()
            .map(|r| r.candidate.provider_ref.as_str())
            .collect();
        assert_eq!(order, ["Practitioner/c", "Practitioner/a"]);
        // a qualifies through r2 only (r1 is beyond the radius): qualification, 3 miles.
        let a = &ranked[1].candidate;
        assert_eq!(a.specialty_match, Some(SpecialtyMatch::Qualification));
        assert!((a.distance_miles.unwrap() - 3.0).abs() < 1e-6);
        assert_eq!(roles["Practitioner/a"], ["r2"]);
    }

    #[test]
    fn names_rank_and_unmatched_names_drop() {
        let q = query(&[("name", "smith")]);
        let rows = [
            RoleSite {
                role: "r1".into(),
                provider: "Practitioner/a".into(),
                site: None,
                role_specialty: false,
            },
            RoleSite {
                role: "r2".into(),
                provider: "Practitioner/b".into(),
                site: None,
                role_specialty: false,
            },
            RoleSite {
                role: "r3".into(),
                provider: "Practitioner/c".into(),
                site: None,
                role_specialty: false,
            },
        ];
        let names = HashMap::from([
            ("Practitioner/a".to_owned(), vec!["Jane Smyth".to_owned()]),
            ("Practitioner/b".to_owned(), vec!["John Smith".to_owned()]),
            ("Practitioner/c".to_owned(), vec!["Bob Jones".to_owned()]),
        ]);
        let (ranked, _) = prerank(&q, &rows, Some(&names));
        let order: Vec<&str> = ranked
            .iter()
            .map(|r| r.candidate.provider_ref.as_str())
            .collect();
        assert_eq!(order, ["Practitioner/b", "Practitioner/a"]);
    }
}
