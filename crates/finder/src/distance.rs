//! Distances on the Earth, in miles (`$find-providers` states every distance in miles), and
//! the latitude/longitude box a store scans before checking exact distances.
//!
//! Great-circle distance by the haversine formula on a sphere of the mean Earth radius
//! (6371 km, IUGG), the same sphere the generator scatters its locations on
//! ([`generate::geography::distance_km`]), so generated "just inside the radius" locations
//! are inside here too. The sphere is within 0.5% of the WGS84 ellipsoid: ample for "within
//! 25 miles", and simple enough to compute the same way in SQL on both backends.

/// Kilometres in one international mile (exactly 1609.344 m).
pub const KM_PER_MILE: f64 = 1.609_344;

/// The mean Earth radius in miles (6371 km).
pub const EARTH_RADIUS_MILES: f64 = 6371.0 / KM_PER_MILE;

/// The great-circle distance in miles between two `(latitude, longitude)` points in degrees.
#[must_use]
pub fn miles_between(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lat2) = (a.0.to_radians(), b.0.to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.1 - a.1).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    // `min` keeps rounding from taking asin past its domain for antipodal points.
    2.0 * EARTH_RADIUS_MILES * h.sqrt().min(1.0).asin()
}

/// The smallest `(lat_min, lat_max, lon_min, lon_max)` box, in degrees, holding every point
/// within `radius_miles` of `centre` (`(latitude, longitude)`): an index range the store scans
/// before checking [`miles_between`] on what it finds. Every point within the radius is
/// inside the box; not every point inside the box is within the radius.
///
/// Method: J. P. Matuschek, "Finding Points Within a Distance of a Latitude/Longitude Using
/// Bounding Coordinates" (2011), section 3: latitudes `centre ± r` (r the angular radius),
/// longitudes `centre ± asin(sin r / cos lat)`, which is wider than `r / cos lat` and exact at
/// the circle's tangent points. Two edge cases, so the box is always one plain range:
/// - near a pole (`lat ± r` beyond ±90) the latitude is clamped to ±90 and the longitude is the
///   full -180..=180, since a circle around a pole covers every meridian;
/// - across the antimeridian (`lon ± Δ` beyond ±180) the longitude is widened to the full
///   -180..=180 rather than split in two boxes: one range predicate, on the rare search in the
///   western Aleutians or Fiji, and the exact distance check still removes the far points.
///
/// A negative or non-finite radius counts as 0.
#[must_use]
pub fn bbox(centre: (f64, f64), radius_miles: f64) -> (f64, f64, f64, f64) {
    let (lat, lon) = centre;
    let r = if radius_miles.is_finite() {
        radius_miles.max(0.0) / EARTH_RADIUS_MILES
    } else {
        0.0
    };
    let dlat = r.to_degrees();
    let (lat_min, lat_max) = (lat - dlat, lat + dlat);
    if lat_min <= -90.0 || lat_max >= 90.0 {
        return (lat_min.max(-90.0), lat_max.min(90.0), -180.0, 180.0);
    }
    // Below the poles cos(lat) > sin(r) (see above), so the ratio is under 1; `min` only
    // guards rounding.
    let dlon = (r.sin() / lat.to_radians().cos())
        .min(1.0)
        .asin()
        .to_degrees();
    let (lon_min, lon_max) = (lon - dlon, lon + dlon);
    if lon_min < -180.0 || lon_max > 180.0 {
        return (lat_min, lat_max, -180.0, 180.0);
    }
    (lat_min, lat_max, lon_min, lon_max)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HARTFORD: (f64, f64) = (41.7658, -72.6734);
    const BOSTON: (f64, f64) = (42.3601, -71.0589);

    #[test]
    fn agrees_with_the_generators_kilometres() {
        let km = generate::geography::distance_km(HARTFORD.0, HARTFORD.1, BOSTON.0, BOSTON.1);
        let miles = miles_between(HARTFORD, BOSTON);
        assert!(
            (miles * KM_PER_MILE - km).abs() < 1e-9,
            "{miles} mi vs {km} km"
        );
        // Hartford to Boston is about 92 miles as the crow flies.
        assert!((90.0..95.0).contains(&miles), "{miles}");
    }

    #[test]
    fn known_distances_hold() {
        assert_eq!(miles_between(HARTFORD, HARTFORD), 0.0);
        assert!((miles_between(HARTFORD, BOSTON) - miles_between(BOSTON, HARTFORD)).abs() < 1e-12);
        // One degree of latitude is 60 nautical miles, about 69.1 statute miles.
        let degree = miles_between((0.0, 0.0), (1.0, 0.0));
        assert!((degree - 69.09).abs() < 0.05, "{degree}");
        // Antipodes: half the circumference, without NaN.
        let half = miles_between((0.0, 0.0), (0.0, 180.0));
        assert!(
            (half - std::f64::consts::PI * EARTH_RADIUS_MILES).abs() < 1e-6,
            "{half}"
        );
        // Across the antimeridian is short.
        assert!(miles_between((0.0, 179.9), (0.0, -179.9)) < 14.0);
    }

    #[test]
    fn the_box_holds_the_circle() {
        let radius = 25.0;
        let (lat_min, lat_max, lon_min, lon_max) = bbox(HARTFORD, radius);
        assert!(lat_min < HARTFORD.0 && HARTFORD.0 < lat_max);
        assert!(lon_min < HARTFORD.1 && HARTFORD.1 < lon_max);
        // The box's edges at the centre's latitude/longitude are one radius away.
        assert!((miles_between(HARTFORD, (lat_max, HARTFORD.1)) - radius).abs() < 1e-6);
        assert!((miles_between(HARTFORD, (lat_min, HARTFORD.1)) - radius).abs() < 1e-6);
        // Points on the circle, every 10 degrees of bearing, are inside the box.
        for step in 0..36 {
            let bearing = f64::from(step * 10).to_radians();
            let p = destination(HARTFORD, bearing, radius * 0.999_999);
            assert!((lat_min..=lat_max).contains(&p.0), "{step}: {p:?}");
            assert!((lon_min..=lon_max).contains(&p.1), "{step}: {p:?}");
        }
    }

    #[test]
    fn the_box_is_one_range_near_a_pole_and_across_the_antimeridian() {
        let (lat_min, lat_max, lon_min, lon_max) = bbox((89.9, 10.0), 25.0);
        assert_eq!((lat_max, lon_min, lon_max), (90.0, -180.0, 180.0));
        assert!(lat_min < 89.9);
        let (lat_min, _, lon_min, lon_max) = bbox((-89.95, 0.0), 25.0);
        assert_eq!((lat_min, lon_min, lon_max), (-90.0, -180.0, 180.0));
        // Fiji, 179.9 E: the box would cross 180, so it spans every longitude.
        let (lat_min, lat_max, lon_min, lon_max) = bbox((-17.0, 179.9), 25.0);
        assert_eq!((lon_min, lon_max), (-180.0, 180.0));
        assert!(lat_min < -17.0 && -17.0 < lat_max);
        // A radius of zero, or a nonsense one, is the centre itself.
        assert_eq!(
            bbox(HARTFORD, 0.0),
            (HARTFORD.0, HARTFORD.0, HARTFORD.1, HARTFORD.1)
        );
        assert_eq!(bbox(HARTFORD, f64::NAN), bbox(HARTFORD, -3.0));
    }

    /// The point `miles` from `from` on initial `bearing` (radians from north).
    fn destination(from: (f64, f64), bearing: f64, miles: f64) -> (f64, f64) {
        let d = miles / EARTH_RADIUS_MILES;
        let (lat1, lon1) = (from.0.to_radians(), from.1.to_radians());
        let lat2 = (lat1.sin() * d.cos() + lat1.cos() * d.sin() * bearing.cos()).asin();
        let lon2 =
            lon1 + (bearing.sin() * d.sin() * lat1.cos()).atan2(d.cos() - lat1.sin() * lat2.sin());
        (lat2.to_degrees(), lon2.to_degrees())
    }
}
