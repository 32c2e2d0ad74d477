//! Built-in US geography: ~100 real cities with a real ZIP code, telephone area code and
//! coordinates, street names, and deterministic jitter of a point within a radius. Locations are
//! scattered around their city so that `near` searches have realistic density.

use crate::rng::Rng;

/// A US city with one of its real ZIP codes and its approximate centre.
#[derive(Debug)]
pub struct City {
    pub name: &'static str,
    pub state: &'static str,
    pub zip: &'static str,
    pub area_code: &'static str,
    pub lat: f64,
    pub lon: f64,
}

const fn c(
    name: &'static str,
    state: &'static str,
    zip: &'static str,
    area_code: &'static str,
    lat: f64,
    lon: f64,
) -> City {
    City {
        name,
        state,
        zip,
        area_code,
        lat,
        lon,
    }
}

/// The cities locations are placed in. New England is over-represented on purpose: the Plan-Net
/// reference data is set in CT/MA, and a dense region makes geographic queries interesting.
pub const CITIES: &[City] = &[
    c("Boston", "MA", "02108", "617", 42.3601, -71.0589),
    c("Cambridge", "MA", "02139", "617", 42.3736, -71.1097),
    c("Worcester", "MA", "01608", "508", 42.2626, -71.8023),
    c("Springfield", "MA", "01103", "413", 42.1015, -72.5898),
    c("Lowell", "MA", "01852", "978", 42.6334, -71.3162),
    c("Quincy", "MA", "02169", "617", 42.2529, -71.0023),
    c("Framingham", "MA", "01702", "508", 42.2793, -71.4162),
    c("Hartford", "CT", "06103", "860", 41.7658, -72.6734),
    c("New Haven", "CT", "06510", "203", 41.3083, -72.9279),
    c("Bridgeport", "CT", "06604", "203", 41.1865, -73.1952),
    c("Stamford", "CT", "06901", "203", 41.0534, -73.5387),
    c("Waterbury", "CT", "06702", "203", 41.5582, -73.0515),
    c("Norwalk", "CT", "06851", "203", 41.1177, -73.4082),
    c("Danbury", "CT", "06810", "203", 41.3948, -73.4540),
    c("New London", "CT", "06320", "860", 41.3557, -72.0995),
    c("Providence", "RI", "02903", "401", 41.8240, -71.4128),
    c("Warwick", "RI", "02886", "401", 41.7001, -71.4162),
    c("Manchester", "NH", "03101", "603", 42.9956, -71.4548),
    c("Nashua", "NH", "03060", "603", 42.7654, -71.4676),
    c("Portland", "ME", "04101", "207", 43.6591, -70.2568),
    c("Burlington", "VT", "05401", "802", 44.4759, -73.2121),
    c("New York", "NY", "10001", "212", 40.7506, -73.9972),
    c("Brooklyn", "NY", "11201", "718", 40.6943, -73.9903),
    c("Buffalo", "NY", "14202", "716", 42.8864, -78.8784),
    c("Rochester", "NY", "14604", "585", 43.1566, -77.6088),
    c("Albany", "NY", "12207", "518", 42.6526, -73.7562),
    c("Syracuse", "NY", "13202", "315", 43.0481, -76.1474),
    c("Newark", "NJ", "07102", "973", 40.7357, -74.1724),
    c("Jersey City", "NJ", "07302", "201", 40.7178, -74.0431),
    c("Trenton", "NJ", "08608", "609", 40.2206, -74.7597),
    c("Philadelphia", "PA", "19107", "215", 39.9526, -75.1652),
    c("Pittsburgh", "PA", "15222", "412", 40.4406, -79.9959),
    c("Harrisburg", "PA", "17101", "717", 40.2732, -76.8867),
    c("Allentown", "PA", "18101", "610", 40.6023, -75.4714),
    c("Baltimore", "MD", "21202", "410", 39.2904, -76.6122),
    c("Bethesda", "MD", "20814", "301", 38.9847, -77.0947),
    c("Washington", "DC", "20001", "202", 38.9072, -77.0369),
    c("Wilmington", "DE", "19801", "302", 39.7391, -75.5398),
    c("Richmond", "VA", "23219", "804", 37.5407, -77.4360),
    c("Norfolk", "VA", "23510", "757", 36.8508, -76.2859),
    c("Arlington", "VA", "22201", "703", 38.8816, -77.0910),
    c("Charlotte", "NC", "28202", "704", 35.2271, -80.8431),
    c("Raleigh", "NC", "27601", "919", 35.7796, -78.6382),
    c("Durham", "NC", "27701", "919", 35.9940, -78.8986),
    c("Charleston", "SC", "29401", "843", 32.7765, -79.9311),
    c("Columbia", "SC", "29201", "803", 34.0007, -81.0348),
    c("Atlanta", "GA", "30303", "404", 33.7490, -84.3880),
    c("Savannah", "GA", "31401", "912", 32.0809, -81.0912),
    c("Jacksonville", "FL", "32202", "904", 30.3322, -81.6557),
    c("Miami", "FL", "33130", "305", 25.7617, -80.1918),
    c("Orlando", "FL", "32801", "407", 28.5383, -81.3792),
    c("Tampa", "FL", "33602", "813", 27.9506, -82.4572),
    c("Tallahassee", "FL", "32301", "850", 30.4383, -84.2807),
    c("Birmingham", "AL", "35203", "205", 33.5186, -86.8104),
    c("Jackson", "MS", "39201", "601", 32.2988, -90.1848),
    c("Nashville", "TN", "37203", "615", 36.1627, -86.7816),
    c("Memphis", "TN", "38103", "901", 35.1495, -90.0490),
    c("Louisville", "KY", "40202", "502", 38.2527, -85.7585),
    c("Lexington", "KY", "40507", "859", 38.0406, -84.5037),
    c("Cleveland", "OH", "44113", "216", 41.4993, -81.6944),
    c("Columbus", "OH", "43215", "614", 39.9612, -82.9988),
    c("Cincinnati", "OH", "45202", "513", 39.1031, -84.5120),
    c("Detroit", "MI", "48226", "313", 42.3314, -83.0458),
    c("Grand Rapids", "MI", "49503", "616", 42.9634, -85.6681),
    c("Ann Arbor", "MI", "48104", "734", 42.2808, -83.7430),
    c("Indianapolis", "IN", "46204", "317", 39.7684, -86.1581),
    c("Chicago", "IL", "60602", "312", 41.8781, -87.6298),
    c("Springfield", "IL", "62701", "217", 39.7817, -89.6501),
    c("Milwaukee", "WI", "53202", "414", 43.0389, -87.9065),
    c("Madison", "WI", "53703", "608", 43.0731, -89.4012),
    c("Minneapolis", "MN", "55401", "612", 44.9778, -93.2650),
    c("Saint Paul", "MN", "55102", "651", 44.9537, -93.0900),
    c("Rochester", "MN", "55902", "507", 44.0121, -92.4802),
    c("Des Moines", "IA", "50309", "515", 41.5868, -93.6250),
    c("Saint Louis", "MO", "63101", "314", 38.6270, -90.1994),
    c("Kansas City", "MO", "64106", "816", 39.0997, -94.5786),
    c("Omaha", "NE", "68102", "402", 41.2565, -95.9345),
    c("Wichita", "KS", "67202", "316", 37.6872, -97.3301),
    c("Oklahoma City", "OK", "73102", "405", 35.4676, -97.5164),
    c("Tulsa", "OK", "74103", "918", 36.1540, -95.9928),
    c("Little Rock", "AR", "72201", "501", 34.7465, -92.2896),
    c("New Orleans", "LA", "70112", "504", 29.9511, -90.0715),
    c("Houston", "TX", "77002", "713", 29.7604, -95.3698),
    c("Dallas", "TX", "75201", "214", 32.7767, -96.7970),
    c("Austin", "TX", "78701", "512", 30.2672, -97.7431),
    c("San Antonio", "TX", "78205", "210", 29.4241, -98.4936),
    c("El Paso", "TX", "79901", "915", 31.7619, -106.4850),
    c("Denver", "CO", "80202", "303", 39.7392, -104.9903),
    c("Colorado Springs", "CO", "80903", "719", 38.8339, -104.8214),
    c("Albuquerque", "NM", "87102", "505", 35.0844, -106.6504),
    c("Phoenix", "AZ", "85004", "602", 33.4484, -112.0740),
    c("Tucson", "AZ", "85701", "520", 32.2226, -110.9747),
    c("Salt Lake City", "UT", "84111", "801", 40.7608, -111.8910),
    c("Boise", "ID", "83702", "208", 43.6150, -116.2023),
    c("Las Vegas", "NV", "89101", "702", 36.1699, -115.1398),
    c("Los Angeles", "CA", "90012", "213", 34.0522, -118.2437),
    c("San Diego", "CA", "92101", "619", 32.7157, -117.1611),
    c("San Francisco", "CA", "94102", "415", 37.7749, -122.4194),
    c("San Jose", "CA", "95113", "408", 37.3382, -121.8863),
    c("Sacramento", "CA", "95814", "916", 38.5816, -121.4944),
    c("Fresno", "CA", "93721", "559", 36.7378, -119.7871),
    c("Portland", "OR", "97204", "503", 45.5152, -122.6784),
    c("Seattle", "WA", "98101", "206", 47.6062, -122.3321),
    c("Spokane", "WA", "99201", "509", 47.6588, -117.4260),
    c("Anchorage", "AK", "99501", "907", 61.2181, -149.9003),
    c("Honolulu", "HI", "96813", "808", 21.3069, -157.8583),
];

/// USPS state code -> state name, for the states in [`CITIES`].
pub fn state_name(code: &str) -> &'static str {
    match code {
        "AK" => "Alaska",
        "AL" => "Alabama",
        "AR" => "Arkansas",
        "AZ" => "Arizona",
        "CA" => "California",
        "CO" => "Colorado",
        "CT" => "Connecticut",
        "DC" => "District of Columbia",
        "DE" => "Delaware",
        "FL" => "Florida",
        "GA" => "Georgia",
        "HI" => "Hawaii",
        "IA" => "Iowa",
        "ID" => "Idaho",
        "IL" => "Illinois",
        "IN" => "Indiana",
        "KS" => "Kansas",
        "KY" => "Kentucky",
        "LA" => "Louisiana",
        "MA" => "Massachusetts",
        "MD" => "Maryland",
        "ME" => "Maine",
        "MI" => "Michigan",
        "MN" => "Minnesota",
        "MO" => "Missouri",
        "MS" => "Mississippi",
        "NC" => "North Carolina",
        "NE" => "Nebraska",
        "NH" => "New Hampshire",
        "NJ" => "New Jersey",
        "NM" => "New Mexico",
        "NV" => "Nevada",
        "NY" => "New York",
        "OH" => "Ohio",
        "OK" => "Oklahoma",
        "OR" => "Oregon",
        "PA" => "Pennsylvania",
        "RI" => "Rhode Island",
        "SC" => "South Carolina",
        "TN" => "Tennessee",
        "TX" => "Texas",
        "UT" => "Utah",
        "VA" => "Virginia",
        "VT" => "Vermont",
        "WA" => "Washington",
        "WI" => "Wisconsin",
        _ => "Unknown",
    }
}

/// Street names for generated addresses.
pub const STREETS: &[&str] = &[
    "Main St",
    "Washington St",
    "Maple Ave",
    "Oak St",
    "Elm St",
    "Park Ave",
    "Pine St",
    "Cedar Ln",
    "Lake Rd",
    "Hill St",
    "Church St",
    "High St",
    "Center St",
    "Broadway",
    "Union St",
    "Prospect Ave",
    "Highland Ave",
    "Franklin St",
    "Lincoln Ave",
    "Jefferson St",
    "Madison Ave",
    "Chestnut St",
    "Spruce St",
    "Walnut St",
    "River Rd",
    "Market St",
    "State St",
    "Summit Ave",
    "Medical Center Dr",
    "Hospital Dr",
    "Commerce Blvd",
    "Riverside Dr",
    "Sunset Blvd",
    "Forest Ave",
    "Spring St",
    "Mill St",
    "Academy St",
    "College Ave",
    "Water St",
    "Liberty St",
];

/// Mean Earth radius used for jitter, in km.
const EARTH_RADIUS_KM: f64 = 6371.0;
/// Locations are scattered up to this far from their city centre.
pub const JITTER_KM: f64 = 15.0;

/// A point uniformly distributed in a disc of radius [`JITTER_KM`] around `(lat, lon)`, rounded to
/// 6 decimals (~0.1 m) so the JSON is short and does not depend on the last bits of `sin`/`cos`.
pub fn jitter(rng: &mut Rng, lat: f64, lon: f64) -> (f64, f64) {
    // sqrt makes the density uniform over the disc's area rather than bunched at the centre.
    let r = JITTER_KM * rng.unit().sqrt();
    let theta = std::f64::consts::TAU * rng.unit();
    let dlat = (r * theta.cos() / EARTH_RADIUS_KM).to_degrees();
    let dlon = (r * theta.sin() / (EARTH_RADIUS_KM * lat.to_radians().cos())).to_degrees();
    (round6(lat + dlat), round6(lon + dlon))
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// Great-circle distance in km (haversine); used by the tests to check the jitter radius.
#[must_use]
pub fn distance_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * a.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Purpose;

    #[test]
    fn city_table_is_well_formed() {
        assert!(CITIES.len() >= 100, "{} cities", CITIES.len());
        for city in CITIES {
            assert_eq!(city.zip.len(), 5, "{}", city.name);
            assert!(city.zip.bytes().all(|b| b.is_ascii_digit()));
            assert_eq!(city.area_code.len(), 3);
            assert_ne!(state_name(city.state), "Unknown", "{}", city.state);
            // Inside the US (incl. AK, HI) bounding box.
            assert!((18.0..72.0).contains(&city.lat), "{}", city.name);
            assert!((-170.0..-66.0).contains(&city.lon), "{}", city.name);
        }
    }

    #[test]
    fn jitter_stays_within_radius() {
        let mut rng = Rng::new(1, Purpose::Location, 0);
        for city in CITIES {
            for _ in 0..50 {
                let (lat, lon) = jitter(&mut rng, city.lat, city.lon);
                let d = distance_km(city.lat, city.lon, lat, lon);
                assert!(d <= JITTER_KM + 0.01, "{} {d}", city.name);
            }
        }
    }
}
