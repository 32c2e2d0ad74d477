//! The best-match score of a provider and the order of results (issue 20, "Ranking").
//!
//! Each criterion the query asked for gives a closeness from 0 to 1, and the score is their
//! weighted average over **only the asked criteria**, so a name-only query ranks by name alone
//! and a network-only query (nothing to be close to) scores every provider 1:
//!
//! | criterion (asked when)      | weight | closeness                                                          |
//! |-----------------------------|--------|--------------------------------------------------------------------|
//! | name (`name`)               | 0.60   | exact 1.0 · prefix 0.8 · phonetic 0.6 · similar 0.4 · none 0       |
//! | specialty (`specialty`)     | 0.25   | through the role (`PractitionerRole.specialty`) 1.0 · only through a qualification (`Practitioner.qualification`) 0.5 |
//! | distance (a centre)         | 0.15   | `1 - d / radius` of the closest qualifying address, clamped to 0..=1; unknown 0 |
//!
//! `score = Σ weight × closeness / Σ weight` over the asked criteria, rounded to 4 decimals
//! (the value of `Bundle.entry.search.score`, <https://hl7.org/fhir/R4/bundle-definitions.html#Bundle.entry.search.score>;
//! rounding also keeps floating-point noise from deciding ties, so a store computing the
//! same formula in SQL orders alike).
//!
//! Why these weights: a name, when given, is what the caller is looking for, so it dominates
//! (an exact name at the edge of the area, 0.60/0.75 = 0.80, still beats a sound-alike next
//! door, (0.36+0.15)/0.75 = 0.68). The network's own specialty (the role) outweighs the NPPES
//! taxonomy on the practitioner, as the issue asks, but distance still counts: with specialty
//! and a centre, a role match halfway out ((0.25+0.075)/0.40 = 0.8125) beats a
//! qualification-only match at the centre ((0.125+0.15)/0.40 = 0.6875), while a role match at
//! the very edge (0.625) does not.
//!
//! Order ([`rank`]), always total and deterministic:
//! - [`Sort::BestMatch`]: score (high first), then distance (near first, unknown last), then
//!   provider reference (ascending, byte order);
//! - [`Sort::Distance`]: distance (near first, unknown last), then score, then reference.

use std::cmp::Ordering;

use serde::Serialize;

use crate::names::NameMatch;
use crate::query::{FindQuery, Sort};

/// Weight of name closeness (see the module table).
pub const NAME_WEIGHT: f64 = 0.60;
/// Weight of specialty match.
pub const SPECIALTY_WEIGHT: f64 = 0.25;
/// Weight of distance.
pub const DISTANCE_WEIGHT: f64 = 0.15;

/// How a provider matched `specialty`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpecialtyMatch {
    /// A qualifying role (PractitionerRole, OrganizationAffiliation, HealthcareService) has
    /// the specialty: the network's own statement.
    Role,
    /// Only the provider's qualification (the NPPES taxonomy on `Practitioner.qualification`).
    Qualification,
}

/// One provider found, with how it matched; the store fills it in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    /// `Practitioner/x` or `Organization/y`: the final tie-breaker.
    pub provider_ref: String,
    /// [`crate::name_match`] of the wanted name against the provider's (best of its names);
    /// `None` when no name was asked.
    pub name_match: Option<NameMatch>,
    /// The best way the provider matched `specialty`; `None` when none was asked.
    pub specialty_match: Option<SpecialtyMatch>,
    /// Miles from the centre to the provider's closest qualifying address; `None` without a
    /// centre or without a position.
    pub distance_miles: Option<f64>,
}

/// Which criteria the query asked for: what [`score`] averages over.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Criteria {
    /// `name` was given.
    pub name: bool,
    /// `specialty` was given.
    pub specialty: bool,
    /// The radius in miles, when a centre was given.
    pub radius_miles: Option<f64>,
}

impl Criteria {
    /// The criteria of a parsed query.
    #[must_use]
    pub fn of(query: &FindQuery) -> Criteria {
        Criteria {
            name: query.name.is_some(),
            specialty: query.specialty.is_some(),
            radius_miles: query.centre.as_ref().map(|_| query.radius_miles),
        }
    }
}

/// A candidate with its score, in result order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ranked {
    pub candidate: Candidate,
    /// In 0..=1, 4 decimals: `Bundle.entry.search.score`.
    pub score: f64,
}

/// The better of two ways a provider met `specialty` (through a role beats a qualification).
#[must_use]
pub fn best_specialty(
    a: Option<SpecialtyMatch>,
    b: Option<SpecialtyMatch>,
) -> Option<SpecialtyMatch> {
    match (a, b) {
        (Some(SpecialtyMatch::Role), _) | (_, Some(SpecialtyMatch::Role)) => {
            Some(SpecialtyMatch::Role)
        }
        (Some(x), _) | (None, Some(x)) => Some(x),
        (None, None) => None,
    }
}

/// The closer of two distances (unknown counts as no distance).
#[must_use]
pub fn closer(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// A name level's closeness (see the module table).
#[must_use]
pub fn name_closeness(level: NameMatch) -> f64 {
    match level {
        NameMatch::Exact => 1.0,
        NameMatch::Prefix => 0.8,
        NameMatch::Phonetic => 0.6,
        NameMatch::Similar => 0.4,
        NameMatch::None => 0.0,
    }
}

/// A specialty match's closeness (see the module table).
#[must_use]
pub fn specialty_closeness(level: SpecialtyMatch) -> f64 {
    match level {
        SpecialtyMatch::Role => 1.0,
        SpecialtyMatch::Qualification => 0.5,
    }
}

/// Distance closeness: 1 at the centre, falling linearly to 0 at the radius and beyond.
#[must_use]
pub fn distance_closeness(distance_miles: f64, radius_miles: f64) -> f64 {
    if !distance_miles.is_finite() || radius_miles.is_nan() || radius_miles <= 0.0 {
        return 0.0;
    }
    (1.0 - distance_miles / radius_miles).clamp(0.0, 1.0)
}

/// The candidate's best-match score under `criteria` (see the module documentation).
#[must_use]
pub fn score(candidate: &Candidate, criteria: &Criteria) -> f64 {
    let mut total = 0.0;
    let mut weights = 0.0;
    if criteria.name {
        total += NAME_WEIGHT * candidate.name_match.map_or(0.0, name_closeness);
        weights += NAME_WEIGHT;
    }
    if criteria.specialty {
        total += SPECIALTY_WEIGHT * candidate.specialty_match.map_or(0.0, specialty_closeness);
        weights += SPECIALTY_WEIGHT;
    }
    if let Some(radius) = criteria.radius_miles {
        let closeness = candidate
            .distance_miles
            .map_or(0.0, |d| distance_closeness(d, radius));
        total += DISTANCE_WEIGHT * closeness;
        weights += DISTANCE_WEIGHT;
    }
    if weights == 0.0 {
        return 1.0;
    }
    ((total / weights).clamp(0.0, 1.0) * 10_000.0).round() / 10_000.0
}

/// Scores `candidates` and puts them in result order for `sort` (see the module
/// documentation).
#[must_use]
pub fn rank(candidates: Vec<Candidate>, criteria: &Criteria, sort: Sort) -> Vec<Ranked> {
    let mut ranked: Vec<Ranked> = candidates
        .into_iter()
        .map(|candidate| Ranked {
            score: score(&candidate, criteria),
            candidate,
        })
        .collect();
    ranked.sort_by(|a, b| match sort {
        Sort::BestMatch => by_score(a, b)
            .then_with(|| by_distance(a, b))
            .then_with(|| by_reference(a, b)),
        Sort::Distance => by_distance(a, b)
            .then_with(|| by_score(a, b))
            .then_with(|| by_reference(a, b)),
    });
    ranked
}

fn by_score(a: &Ranked, b: &Ranked) -> Ordering {
    b.score.total_cmp(&a.score)
}

/// Near first; unknown (or non-finite) last.
fn by_distance(a: &Ranked, b: &Ranked) -> Ordering {
    let known = |r: &Ranked| r.candidate.distance_miles.filter(|d| d.is_finite());
    match (known(a), known(b)) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

fn by_reference(a: &Ranked, b: &Ranked) -> Ordering {
    a.candidate.provider_ref.cmp(&b.candidate.provider_ref)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(
        reference: &str,
        name: Option<NameMatch>,
        specialty: Option<SpecialtyMatch>,
        distance: Option<f64>,
    ) -> Candidate {
        Candidate {
            provider_ref: reference.to_owned(),
            name_match: name,
            specialty_match: specialty,
            distance_miles: distance,
        }
    }

    fn order(ranked: &[Ranked]) -> Vec<&str> {
        ranked
            .iter()
            .map(|r| r.candidate.provider_ref.as_str())
            .collect()
    }

    const NAME_ONLY: Criteria = Criteria {
        name: true,
        specialty: false,
        radius_miles: None,
    };
    const SPECIALTY_NEAR: Criteria = Criteria {
        name: false,
        specialty: true,
        radius_miles: Some(20.0),
    };
    const NAME_NEAR: Criteria = Criteria {
        name: true,
        specialty: false,
        radius_miles: Some(20.0),
    };

    #[test]
    fn the_weights_table_is_what_the_code_uses() {
        assert!((NAME_WEIGHT + SPECIALTY_WEIGHT + DISTANCE_WEIGHT - 1.0).abs() < 1e-12);
        let names = [
            NameMatch::Exact,
            NameMatch::Prefix,
            NameMatch::Phonetic,
            NameMatch::Similar,
            NameMatch::None,
        ];
        let closeness: Vec<f64> = names.into_iter().map(name_closeness).collect();
        assert_eq!(closeness, [1.0, 0.8, 0.6, 0.4, 0.0]);
        assert_eq!(specialty_closeness(SpecialtyMatch::Role), 1.0);
        assert_eq!(specialty_closeness(SpecialtyMatch::Qualification), 0.5);
    }

    #[test]
    fn distance_closeness_falls_linearly_to_the_radius() {
        for (d, want) in [
            (0.0, 1.0),
            (5.0, 0.75),
            (10.0, 0.5),
            (20.0, 0.0),
            (30.0, 0.0),
            (-1.0, 1.0),
            (f64::NAN, 0.0),
            (f64::INFINITY, 0.0),
        ] {
            assert_eq!(distance_closeness(d, 20.0), want, "{d}");
        }
        assert_eq!(distance_closeness(1.0, 0.0), 0.0);
    }

    #[test]
    fn name_ranks_exact_before_prefix_before_phonetic_before_similar() {
        let input = vec![
            candidate("Practitioner/none", Some(NameMatch::None), None, None),
            candidate("Practitioner/similar", Some(NameMatch::Similar), None, None),
            candidate(
                "Practitioner/phonetic",
                Some(NameMatch::Phonetic),
                None,
                None,
            ),
            candidate("Practitioner/exact", Some(NameMatch::Exact), None, None),
            candidate("Practitioner/prefix", Some(NameMatch::Prefix), None, None),
        ];
        let ranked = rank(input, &NAME_ONLY, Sort::BestMatch);
        assert_eq!(
            order(&ranked),
            [
                "Practitioner/exact",
                "Practitioner/prefix",
                "Practitioner/phonetic",
                "Practitioner/similar",
                "Practitioner/none"
            ]
        );
        let scores: Vec<f64> = ranked.iter().map(|r| r.score).collect();
        assert_eq!(
            scores,
            [1.0, 0.8, 0.6, 0.4, 0.0],
            "a name-only query scores by name alone"
        );
    }

    #[test]
    fn a_name_only_query_ignores_distance_and_specialty_in_the_score() {
        let near = candidate(
            "Practitioner/a",
            Some(NameMatch::Phonetic),
            Some(SpecialtyMatch::Role),
            Some(0.0),
        );
        let far = candidate("Practitioner/b", Some(NameMatch::Exact), None, Some(400.0));
        assert_eq!(score(&near, &NAME_ONLY), 0.6);
        assert_eq!(score(&far, &NAME_ONLY), 1.0);
    }

    #[test]
    fn exact_name_at_the_edge_beats_a_sound_alike_next_door() {
        let ranked = rank(
            vec![
                candidate("Practitioner/a", Some(NameMatch::Phonetic), None, Some(0.0)),
                candidate("Practitioner/b", Some(NameMatch::Exact), None, Some(20.0)),
                candidate("Practitioner/c", Some(NameMatch::Similar), None, Some(0.0)),
            ],
            &NAME_NEAR,
            Sort::BestMatch,
        );
        assert_eq!(
            order(&ranked),
            ["Practitioner/b", "Practitioner/a", "Practitioner/c"]
        );
        assert_eq!(ranked[0].score, 0.8);
        assert_eq!(ranked[1].score, 0.68);
    }

    #[test]
    fn role_specialty_ranks_above_qualification_only() {
        // Same distance: the role wins.
        let ranked = rank(
            vec![
                candidate(
                    "Practitioner/a",
                    None,
                    Some(SpecialtyMatch::Qualification),
                    Some(5.0),
                ),
                candidate(
                    "Practitioner/b",
                    None,
                    Some(SpecialtyMatch::Role),
                    Some(5.0),
                ),
            ],
            &SPECIALTY_NEAR,
            Sort::BestMatch,
        );
        assert_eq!(order(&ranked), ["Practitioner/b", "Practitioner/a"]);
        // Specialty alone: role 1.0, qualification 0.5.
        let specialty_only = Criteria {
            radius_miles: None,
            ..SPECIALTY_NEAR
        };
        let role = candidate("Practitioner/r", None, Some(SpecialtyMatch::Role), None);
        let qual = candidate(
            "Practitioner/q",
            None,
            Some(SpecialtyMatch::Qualification),
            None,
        );
        assert_eq!(score(&role, &specialty_only), 1.0);
        assert_eq!(score(&qual, &specialty_only), 0.5);
    }

    #[test]
    fn the_documented_worked_examples_hold() {
        let at = |s, d| candidate("Practitioner/x", None, Some(s), Some(d));
        assert_eq!(
            score(&at(SpecialtyMatch::Role, 10.0), &SPECIALTY_NEAR),
            0.8125
        );
        assert_eq!(
            score(&at(SpecialtyMatch::Qualification, 0.0), &SPECIALTY_NEAR),
            0.6875
        );
        assert_eq!(
            score(&at(SpecialtyMatch::Role, 20.0), &SPECIALTY_NEAR),
            0.625
        );
        let all = Criteria {
            name: true,
            specialty: true,
            radius_miles: Some(20.0),
        };
        let best = candidate(
            "Practitioner/x",
            Some(NameMatch::Exact),
            Some(SpecialtyMatch::Role),
            Some(0.0),
        );
        assert_eq!(score(&best, &all), 1.0);
        let missing = candidate("Practitioner/x", None, None, None);
        assert_eq!(score(&missing, &all), 0.0);
    }

    #[test]
    fn with_nothing_to_be_close_to_every_score_is_one() {
        let nothing = Criteria {
            name: false,
            specialty: false,
            radius_miles: None,
        };
        let c = candidate("Organization/o", Some(NameMatch::None), None, Some(3.0));
        assert_eq!(score(&c, &nothing), 1.0);
    }

    #[test]
    fn scores_stay_within_zero_and_one_with_four_decimals() {
        let names = [
            None,
            Some(NameMatch::Exact),
            Some(NameMatch::Similar),
            Some(NameMatch::None),
        ];
        let specialties = [
            None,
            Some(SpecialtyMatch::Role),
            Some(SpecialtyMatch::Qualification),
        ];
        let distances = [
            None,
            Some(-2.0),
            Some(0.0),
            Some(7.3),
            Some(19.99),
            Some(80.0),
            Some(f64::NAN),
        ];
        for name in names {
            for specialty in specialties {
                for distance in distances {
                    for criteria in [NAME_ONLY, SPECIALTY_NEAR, NAME_NEAR] {
                        let s = score(&candidate("P/x", name, specialty, distance), &criteria);
                        assert!((0.0..=1.0).contains(&s), "{s}");
                        assert_eq!((s * 10_000.0).round() / 10_000.0, s);
                    }
                }
            }
        }
    }

    #[test]
    fn ties_break_by_distance_then_reference_whatever_the_input_order() {
        let a = candidate("Practitioner/a", Some(NameMatch::Exact), None, None);
        let b = candidate("Practitioner/b", Some(NameMatch::Exact), None, Some(9.0));
        let c = candidate("Practitioner/c", Some(NameMatch::Exact), None, Some(3.0));
        let d = candidate("Practitioner/d", Some(NameMatch::Exact), None, Some(3.0));
        let e = candidate("Practitioner/e", Some(NameMatch::Exact), None, None);
        let want = [
            "Practitioner/c",
            "Practitioner/d",
            "Practitioner/b",
            "Practitioner/a",
            "Practitioner/e",
        ];
        let inputs = [
            vec![a.clone(), b.clone(), c.clone(), d.clone(), e.clone()],
            vec![e.clone(), d.clone(), c.clone(), b.clone(), a.clone()],
            vec![c.clone(), e.clone(), a.clone(), d.clone(), b.clone()],
        ];
        for input in inputs {
            assert_eq!(order(&rank(input, &NAME_ONLY, Sort::BestMatch)), want);
        }
    }

    #[test]
    fn sort_by_distance_is_strictly_by_distance_then_score_then_reference() {
        let input = vec![
            candidate(
                "Practitioner/best-far",
                Some(NameMatch::Exact),
                None,
                Some(15.0),
            ),
            candidate(
                "Practitioner/worst-near",
                Some(NameMatch::Similar),
                None,
                Some(1.0),
            ),
            candidate("Practitioner/nowhere", Some(NameMatch::Exact), None, None),
            candidate(
                "Practitioner/mid-b",
                Some(NameMatch::Prefix),
                None,
                Some(8.0),
            ),
            candidate(
                "Practitioner/mid-a",
                Some(NameMatch::Prefix),
                None,
                Some(8.0),
            ),
            candidate(
                "Practitioner/mid-exact",
                Some(NameMatch::Exact),
                None,
                Some(8.0),
            ),
            candidate(
                "Practitioner/unparsable",
                Some(NameMatch::Exact),
                None,
                Some(f64::NAN),
            ),
        ];
        let ranked = rank(input, &NAME_NEAR, Sort::Distance);
        assert_eq!(
            order(&ranked),
            [
                "Practitioner/worst-near",
                "Practitioner/mid-exact",
                "Practitioner/mid-a",
                "Practitioner/mid-b",
                "Practitioner/best-far",
                "Practitioner/nowhere",
                "Practitioner/unparsable",
            ]
        );
        let distances: Vec<f64> = ranked
            .iter()
            .filter_map(|r| r.candidate.distance_miles.filter(|d| d.is_finite()))
            .collect();
        assert!(distances.windows(2).all(|w| w[0] <= w[1]), "{distances:?}");
    }

    #[test]
    fn criteria_follow_the_query() {
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect()
        };
        let q = FindQuery::parse(&pairs(&[
            ("name", "Lee"),
            ("zip", "06103"),
            ("radius", "10"),
        ]))
        .expect("query");
        assert_eq!(
            Criteria::of(&q),
            Criteria {
                name: true,
                specialty: false,
                radius_miles: Some(10.0)
            }
        );
        let q = FindQuery::parse(&pairs(&[("specialty", "207RC0000X")])).expect("query");
        assert_eq!(
            Criteria::of(&q),
            Criteria {
                name: false,
                specialty: true,
                radius_miles: None
            }
        );
    }
}
