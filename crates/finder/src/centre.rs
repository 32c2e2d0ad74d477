//! The centre of a search area: `near=lat|lon` as given, or a `zip` or `city`+`state` turned
//! into coordinates with the built-in US table the generator places its locations with
//! ([`generate::geography::CITIES`], one ZIP and one centre per city).
//!
//! The table is small (about a hundred cities), so a real ZIP code that is not in it is a 400
//! that says so and suggests `near`, never a silent search around some other point. `near`
//! takes only `lat|lon` (WGS84 degrees, as `Location.position`,
//! <https://hl7.org/fhir/R4/location.html>); the distance that R4's `near` parameter can carry
//! after them belongs in `radius` here.

use generate::geography::{state_name, City, CITIES};
use serde::Serialize;

use crate::error::QueryError;
use crate::names::fold;

/// Where the search area is centred, and what the caller gave to say so.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Centre {
    /// Latitude in degrees, -90..=90.
    pub lat: f64,
    /// Longitude in degrees, -180..=180.
    pub lon: f64,
    /// How the caller named the centre (kept for links and for the response).
    pub from: CentreFrom,
}

/// How a [`Centre`] was named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CentreFrom {
    /// `near=lat|lon`.
    Near,
    /// `zip`, as the table spells it (five digits).
    Zip { zip: &'static str },
    /// `city` and `state`, as the table spells them (`Hartford`, `CT`).
    City {
        city: &'static str,
        state: &'static str,
    },
}

impl Centre {
    fn of(city: &'static City, from: CentreFrom) -> Centre {
        Centre {
            lat: city.lat,
            lon: city.lon,
            from,
        }
    }

    /// The query pairs that name this centre (for links): `near`, `zip`, or `city` and
    /// `state`.
    pub(crate) fn pairs(&self) -> Vec<(String, String)> {
        match &self.from {
            CentreFrom::Near => vec![("near".into(), format!("{}|{}", self.lat, self.lon))],
            CentreFrom::Zip { zip } => vec![("zip".into(), (*zip).to_owned())],
            CentreFrom::City { city, state } => vec![
                ("city".into(), (*city).to_owned()),
                ("state".into(), (*state).to_owned()),
            ],
        }
    }
}

/// `near=lat|lon`.
pub(crate) fn parse_near(raw: &str) -> Result<Centre, QueryError> {
    let parts: Vec<&str> = raw.split('|').map(str::trim).collect();
    let [lat, lon] = parts.as_slice() else {
        let hint = if parts.len() > 2 {
            " (give the distance as `radius`)"
        } else {
            ""
        };
        return Err(QueryError::new(
            "near",
            format!("parameter `near` must be `latitude|longitude` in degrees, not `{raw}`{hint}"),
        ));
    };
    let lat = coordinate("latitude", lat, 90.0)?;
    let lon = coordinate("longitude", lon, 180.0)?;
    Ok(Centre {
        lat,
        lon,
        from: CentreFrom::Near,
    })
}

fn coordinate(what: &str, text: &str, limit: f64) -> Result<f64, QueryError> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && (-limit..=limit).contains(&v) => Ok(v),
        _ => Err(QueryError::new(
            "near",
            format!(
                "parameter `near`: the {what} `{text}` is not a number of degrees from -{limit} to {limit}"
            ),
        )),
    }
}

/// `zip`: five digits, or ZIP+4 (`06103-1234`, whose extra four digits narrow nothing here).
pub(crate) fn centre_of_zip(raw: &str) -> Result<Centre, QueryError> {
    let five = match raw.split_once('-') {
        Some((five, four)) if four.len() == 4 && four.bytes().all(|b| b.is_ascii_digit()) => five,
        Some(_) => "",
        None => raw,
    };
    if five.len() != 5 || !five.bytes().all(|b| b.is_ascii_digit()) {
        return Err(QueryError::new(
            "zip",
            format!("parameter `zip`: `{raw}` is not a US ZIP code (five digits, or ZIP+4)"),
        ));
    }
    CITIES
        .iter()
        .find(|c| c.zip == five)
        .map(|c| Centre::of(c, CentreFrom::Zip { zip: c.zip }))
        .ok_or_else(|| {
            QueryError::new(
                "zip",
                format!(
                    "parameter `zip`: ZIP code {five} is not in the server's table of {} US city centres; give `near=latitude|longitude` instead",
                    CITIES.len()
                ),
            )
        })
}

/// `city` and `state`. Compared without case, accents or punctuation; `state` is the USPS
/// code (`CT`) or the name (`Connecticut`); a leading `St`/`Ft`/`Mt` reads as Saint/Fort/Mount
/// (`St. Louis` is the table's `Saint Louis`).
pub(crate) fn centre_of_city(city: &str, state: &str) -> Result<Centre, QueryError> {
    let wanted_city = city_key(city);
    let wanted_state = fold(state).join(" ");
    let same_city = || CITIES.iter().filter(|c| city_key(c.name) == wanted_city);
    let in_state = |c: &&City| {
        fold(c.state).join(" ") == wanted_state
            || fold(state_name(c.state)).join(" ") == wanted_state
    };
    if let Some(found) = same_city().find(in_state) {
        return Ok(Centre::of(
            found,
            CentreFrom::City {
                city: found.name,
                state: found.state,
            },
        ));
    }
    let elsewhere: Vec<String> = same_city()
        .map(|c| format!("{}, {}", c.name, c.state))
        .collect();
    let message = if elsewhere.is_empty() {
        format!(
            "parameter `city`: `{city}` is not in the server's table of {} US city centres; give `zip` or `near=latitude|longitude` instead",
            CITIES.len()
        )
    } else {
        format!(
            "parameter `city`: `{city}` is not in the server's table for state `{state}` (it has {}); check `state`, or give `near=latitude|longitude`",
            elsewhere.join("; ")
        )
    };
    Err(QueryError::new("city", message))
}

fn city_key(name: &str) -> String {
    let mut tokens = fold(name);
    if let Some(first) = tokens.first_mut() {
        let long = match first.as_str() {
            "st" => Some("saint"),
            "ft" => Some("fort"),
            "mt" => Some("mount"),
            _ => None,
        };
        if let Some(long) = long {
            *first = long.to_owned();
        }
    }
    tokens.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_parses_and_checks_ranges() {
        let c = parse_near("41.7658|-72.6734").expect("near");
        assert_eq!(
            (c.lat, c.lon, c.from),
            (41.7658, -72.6734, CentreFrom::Near)
        );
        assert!(parse_near("90|180").is_ok() && parse_near("-90|-180").is_ok());
        for bad in [
            "41.7",
            "41.7|",
            "91|0",
            "0|180.5",
            "NaN|0",
            "inf|0",
            "x|y",
            "41|-72|10|mi",
        ] {
            let err = parse_near(bad).expect_err(bad);
            assert_eq!(err.parameter(), Some("near"), "{bad}");
            assert!(err.message().contains("`near`"), "{bad}: {err}");
        }
        let err = parse_near("41|-72|10|mi").expect_err("distance");
        assert!(err.message().contains("`radius`"), "{err}");
    }

    #[test]
    fn zip_resolves_through_the_city_table() {
        let c = centre_of_zip("06103").expect("Hartford");
        assert_eq!(c.from, CentreFrom::Zip { zip: "06103" });
        assert_eq!((c.lat, c.lon), (41.7658, -72.6734));
        assert_eq!(centre_of_zip("06103-1234").ok(), Some(c));
    }

    #[test]
    fn zip_errors_say_whether_it_is_malformed_or_unknown() {
        for bad in ["6103", "061030", "06l03", "06103-12", "06103-"] {
            let err = centre_of_zip(bad).expect_err(bad);
            assert_eq!(err.parameter(), Some("zip"));
            assert!(err.message().contains("is not a US ZIP code"), "{err}");
        }
        let err = centre_of_zip("99999").expect_err("unknown");
        assert_eq!(err.parameter(), Some("zip"));
        assert!(err.message().contains("not in the server's table"), "{err}");
    }

    #[test]
    fn city_matches_loosely_and_needs_the_right_state() {
        let c = centre_of_city("hartford", "ct").expect("Hartford");
        assert_eq!(
            c.from,
            CentreFrom::City {
                city: "Hartford",
                state: "CT"
            }
        );
        let by_name = centre_of_city("St. Louis", "Missouri").expect("Saint Louis");
        assert_eq!(
            by_name.from,
            CentreFrom::City {
                city: "Saint Louis",
                state: "MO"
            }
        );
        // Two Springfields: the state decides.
        let il = centre_of_city("Springfield", "IL").expect("IL");
        let ma = centre_of_city("Springfield", "MA").expect("MA");
        assert_ne!((il.lat, il.lon), (ma.lat, ma.lon));
    }

    #[test]
    fn unknown_cities_are_refused_naming_city() {
        let err = centre_of_city("Gotham", "NY").expect_err("unknown");
        assert_eq!(err.parameter(), Some("city"));
        assert!(err.message().contains("not in the server's table"), "{err}");
        let err = centre_of_city("Springfield", "CT").expect_err("wrong state");
        assert!(err.message().contains("Springfield, MA"), "{err}");
        assert!(err.message().contains("`state`"), "{err}");
    }

    #[test]
    fn pairs_name_the_centre_as_given() {
        let near = parse_near("41.5|-72.25").expect("near");
        assert_eq!(
            near.pairs(),
            [("near".to_owned(), "41.5|-72.25".to_owned())]
        );
        let city = centre_of_city("new haven", "ct").expect("New Haven");
        assert_eq!(
            city.pairs(),
            [
                ("city".to_owned(), "New Haven".to_owned()),
                ("state".to_owned(), "CT".to_owned())
            ]
        );
    }
}
