//! `fhirdir-bench search`: the search benchmarks of issue 3 (BENCHMARKS.md, "Search").
//!
//! Eight query shapes, with values drawn from the NDJSON that `fhirdir generate` wrote
//! (NUCC specialty codes of the PractitionerRoles, family-name prefixes, Location cities and
//! coordinates), each measured with one sequential client (p50/p95 over `--requests`
//! requests after `--warmup`) and with `--connections` closed-loop clients for `--duration`
//! seconds (req/s). Paging (g) walks `next` links from page 1 to page `--pages` and reports
//! page 1 against the last page. Every answer is checked: HTTP 200, a `searchset` Bundle
//! whose matches have the expected type and shape (a run with any error is invalid).
//!
//! The server is either started here (`--database URL`, a child `fhirdir serve`) or already
//! running (`--addr`). Loading the data is `fhirdir import` (see BENCHMARKS.md).

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use http::{header, Request};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

use crate::child::{self, Server};

/// `fhirdir-bench search` arguments.
#[derive(clap::Args, Debug)]
pub struct SearchArgs {
    /// The directory `fhirdir generate` wrote (query values are drawn from it).
    #[arg(long)]
    data: PathBuf,
    /// Start `fhirdir serve` on this database (already imported) ...
    #[arg(long, conflicts_with = "addr", required_unless_present = "addr")]
    database: Option<String>,
    /// ... or use the server already running here.
    #[arg(long)]
    addr: Option<SocketAddr>,
    /// With `--addr`: the server's process id, to report its CPU time per request.
    #[arg(long)]
    pid: Option<u32>,
    /// The fhirdir binary (default: `fhirdir` next to this executable).
    #[arg(long)]
    fhirdir: Option<PathBuf>,
    /// Measured sequential requests per shape (one client).
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// Unmeasured sequential requests before them.
    #[arg(long, default_value_t = 20)]
    warmup: usize,
    /// Seconds of the multi-client phase (after 2 s of warm-up).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Clients of the multi-client phase.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// `_count` of every request.
    #[arg(long, default_value_t = 20)]
    page_size: usize,
    /// Paging (g): walk to this page.
    #[arg(long, default_value_t = 100)]
    pages: usize,
    /// Paging (g): measured walks with one client.
    #[arg(long, default_value_t = 10)]
    walks: usize,
    /// Only these shapes (a..h), comma separated.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// First column of every row (e.g. `sqlite 100k`).
    #[arg(long, default_value = "")]
    label: String,
    /// The tenant searched.
    #[arg(long, default_value = "default")]
    tenant: String,
}

/// Runs the `search` subcommand; fails when any answer was wrong.
pub async fn main(a: SearchArgs) -> anyhow::Result<()> {
    let o = SearchOptions {
        data: a.data,
        requests: a.requests,
        warmup: a.warmup,
        duration: Duration::from_secs(a.duration),
        connections: a.connections,
        page_size: a.page_size,
        pages: a.pages,
        walks: a.walks,
        only: a.only,
        label: a.label,
        tenant: a.tenant,
    };
    println!("{}", crate::report::machine_facts());
    let ok = match (a.addr, a.database) {
        (Some(addr), _) => run(addr, a.pid, &o).await?,
        (None, Some(db)) => {
            let fhirdir = match a.fhirdir {
                Some(p) => p,
                None => std::env::current_exe()?
                    .parent()
                    .context("executable has no directory")?
                    .join("fhirdir"),
            };
            let log =
                std::env::temp_dir().join(format!("fhirdir-search-{}.log", std::process::id()));
            run_with_server(&fhirdir, &db, &log, &o).await?
        }
        (None, None) => bail!("pass --database or --addr"),
    };
    anyhow::ensure!(ok, "some answers were wrong: the run is invalid");
    Ok(())
}

/// Options of one `search` run.
pub struct SearchOptions {
    pub data: PathBuf,
    pub requests: usize,
    pub warmup: usize,
    pub duration: Duration,
    pub connections: usize,
    pub page_size: usize,
    pub pages: usize,
    pub walks: usize,
    /// Only these shapes (keys `a`..`h`); empty: all.
    pub only: Vec<String>,
    pub label: String,
    /// The tenant searched.
    pub tenant: String,
}

/// Values picked from the generated data. Each list holds one entry per occurrence, so a
/// uniform pick follows the data's own distribution.
struct Values {
    /// (system, code) of every PractitionerRole.specialty coding.
    specialties: Vec<String>,
    /// Specialty codes with at least `page_size * pages` roles (for the paging walk).
    deep_specialties: Vec<String>,
    /// Lower-cased 3-letter prefixes of every Practitioner family name.
    name_prefixes: Vec<String>,
    /// The city of every Location with an address city.
    cities: Vec<String>,
    /// (lat, lon) of every Location with a position.
    positions: Vec<(f64, f64)>,
    /// `$find-providers` cases from real roles: (specialty, network, ZIP of the role's
    /// site's city, the role's practitioner family name, the city and its state).
    finder: Vec<FinderCase>,
    /// Counts, for the report.
    counts: BTreeMap<&'static str, usize>,
}

/// One `$find-providers` case (shapes i and j), taken from one role so that it finds at
/// least that role's practitioner.
struct FinderCase {
    specialty: String,
    network: String,
    zip: &'static str,
    lat: f64,
    lon: f64,
    family: String,
    city: &'static str,
    state: &'static str,
}

fn lines(dir: &Path, ty: &str, mut f: impl FnMut(&Value)) -> anyhow::Result<usize> {
    let path = dir.join(format!("{ty}.ndjson"));
    let file = std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
    let mut n = 0;
    for line in std::io::BufReader::with_capacity(1 << 20, file).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line).with_context(|| format!("{ty} line {n}"))?;
        f(&v);
        n += 1;
    }
    Ok(n)
}

impl Values {
    fn load(dir: &Path, deep: usize) -> anyhow::Result<Values> {
        // Location id -> its city in the ZIP table; practitioner id -> family name.
        let mut site_city: HashMap<String, &'static generate::geography::City> = HashMap::new();
        lines(dir, "Location", |l| {
            let (Some(id), Some(city), Some(state)) = (
                l["id"].as_str(),
                l["address"]["city"].as_str(),
                l["address"]["state"].as_str(),
            ) else {
                return;
            };
            if let Some(c) = generate::geography::CITIES
                .iter()
                .find(|c| c.name == city && c.state == state)
            {
                site_city.insert(format!("Location/{id}"), c);
            }
        })?;
        let mut family: HashMap<String, String> = HashMap::new();
        lines(dir, "Practitioner", |p| {
            if let (Some(id), Some(f)) = (p["id"].as_str(), p["name"][0]["family"].as_str()) {
                family.insert(format!("Practitioner/{id}"), f.to_owned());
            }
        })?;
        let mut finder = Vec::new();
        lines(dir, "PractitionerRole", |r| {
            let site = r["location"][0]["reference"]
                .as_str()
                .and_then(|l| site_city.get(l));
            let network = r["extension"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|e| {
                    e["url"]
                        .as_str()
                        .is_some_and(|u| u.ends_with("/network-reference"))
                })
                .and_then(|e| e["valueReference"]["reference"].as_str());
            let name = r["practitioner"]["reference"]
                .as_str()
                .and_then(|p| family.get(p));
            let specialty = r["specialty"][0]["coding"][0]["code"].as_str();
            if let (Some(c), Some(n), Some(f), Some(s)) = (site, network, name, specialty) {
                finder.push(FinderCase {
                    specialty: s.to_owned(),
                    network: n.to_owned(),
                    zip: c.zip,
                    lat: c.lat,
                    lon: c.lon,
                    family: f.clone(),
                    city: c.name,
                    state: c.state,
                });
            }
        })?;
        drop((site_city, family));
        let mut specialties = Vec::new();
        let mut per_code: HashMap<String, usize> = HashMap::new();
        let roles = lines(dir, "PractitionerRole", |r| {
            for s in r["specialty"].as_array().into_iter().flatten() {
                for c in s["coding"].as_array().into_iter().flatten() {
                    if let Some(code) = c["code"].as_str() {
                        specialties.push(code.to_owned());
                        *per_code.entry(code.to_owned()).or_default() += 1;
                    }
                }
            }
        })?;
        let mut name_prefixes = Vec::new();
        let practitioners = lines(dir, "Practitioner", |p| {
            for n in p["name"].as_array().into_iter().flatten() {
                if let Some(f) = n["family"].as_str() {
                    let prefix: String = f.to_lowercase().chars().take(3).collect();
                    if prefix.chars().count() == 3 && prefix.chars().all(char::is_alphabetic) {
                        name_prefixes.push(prefix);
                    }
                }
            }
        })?;
        let (mut cities, mut positions) = (Vec::new(), Vec::new());
        let locations = lines(dir, "Location", |l| {
            if let Some(c) = l["address"]["city"].as_str() {
                cities.push(c.to_owned());
            }
            let pos = &l["position"];
            if let (Some(lat), Some(lon)) = (pos["latitude"].as_f64(), pos["longitude"].as_f64()) {
                positions.push((lat, lon));
            }
        })?;
        let mut deep_specialties: Vec<String> = per_code
            .into_iter()
            .filter(|(_, n)| *n >= deep)
            .map(|(c, _)| c)
            .collect();
        deep_specialties.sort();
        anyhow::ensure!(
            !specialties.is_empty() && !name_prefixes.is_empty() && !cities.is_empty(),
            "no specialties, names or cities in {}",
            dir.display()
        );
        anyhow::ensure!(
            !deep_specialties.is_empty(),
            "no specialty has {deep} roles: use a smaller --page-size or --pages"
        );
        let counts = BTreeMap::from([
            ("PractitionerRole", roles),
            ("Practitioner", practitioners),
            ("Location", locations),
        ]);
        anyhow::ensure!(
            !finder.is_empty(),
            "no role with a network, a site in a table city and a practitioner in {}",
            dir.display()
        );
        Ok(Values {
            finder,
            specialties,
            deep_specialties,
            name_prefixes,
            cities,
            positions,
            counts,
        })
    }
}

/// SplitMix64 (the same small generator as the load module).
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn pick<'a, T>(v: &'a [T], rng: &mut u64) -> &'a T {
    &v[(splitmix(rng) % v.len() as u64) as usize]
}

/// Percent-encodes a query value (unreserved characters and `|` stay).
pub(crate) fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~|".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What a correct answer looks like.
#[derive(Clone, Debug)]
enum Expect {
    /// At least one match, every match of this type.
    Matches(&'static str),
    /// Matches of the type plus `include` entries of only these types (at least one).
    Includes(&'static str, &'static [&'static str]),
    /// Location matches within `km` of (lat, lon), in non-decreasing distance.
    Near { lat: f64, lon: f64, km: f64 },
    /// Matches of the type and a `total` of at least `min`.
    Total(&'static str, u64),
}

/// Builds a request path, and what its answer must look like, from a random state.
type MakeQuery = Box<dyn Fn(&mut u64) -> (String, Expect) + Send + Sync>;

/// One shape of the benchmark.
struct Shape {
    key: &'static str,
    what: &'static str,
    /// The example request, for the report.
    example: String,
    /// A request path and what its answer must look like, for a random state.
    make: MakeQuery,
    /// Paging: walk `next` links this many pages (the first request from `make`).
    pages: Option<usize>,
}

const KM: f64 = 10.0;

fn shapes(v: Arc<Values>, o: &SearchOptions) -> Vec<Shape> {
    let count = o.page_size;
    // Leaked once per run: every shape's closure copies it.
    let base: &'static str = Box::leak(format!("/fhir/{}", o.tenant).into_boxed_str());
    let mut out = Vec::new();
    let vv = v.clone();
    out.push(Shape {
        key: "a",
        what: "token: PractitionerRole?specialty=",
        example: format!("{base}/PractitionerRole?specialty=207Q00000X&_count={count}"),
        make: Box::new(move |r| {
            let code = pick(&vv.specialties, r);
            (
                format!(
                    "{base}/PractitionerRole?specialty={}&_count={count}",
                    enc(code)
                ),
                Expect::Matches("PractitionerRole"),
            )
        }),
        pages: None,
    });
    let vv = v.clone();
    out.push(Shape {
        key: "b",
        what: "string prefix: Practitioner?name=",
        example: format!("{base}/Practitioner?name=mor&_count={count}"),
        make: Box::new(move |r| {
            let p = pick(&vv.name_prefixes, r);
            (
                format!("{base}/Practitioner?name={}&_count={count}", enc(p)),
                Expect::Matches("Practitioner"),
            )
        }),
        pages: None,
    });
    let vv = v.clone();
    out.push(Shape {
        key: "c",
        what: "chain: PractitionerRole?location.address-city=",
        example: format!("{base}/PractitionerRole?location.address-city=Omaha&_count={count}"),
        make: Box::new(move |r| {
            let c = pick(&vv.cities, r);
            (
                format!(
                    "{base}/PractitionerRole?location.address-city={}&_count={count}",
                    enc(c)
                ),
                Expect::Matches("PractitionerRole"),
            )
        }),
        pages: None,
    });
    let vv = v.clone();
    out.push(Shape {
        key: "d",
        what: "_has: Practitioner?_has:PractitionerRole:practitioner:specialty=",
        example: format!(
            "{base}/Practitioner?_has:PractitionerRole:practitioner:specialty=207Q00000X&_count={count}"
        ),
        make: Box::new(move |r| {
            let code = pick(&vv.specialties, r);
            (
                format!(
                    "{base}/Practitioner?_has:PractitionerRole:practitioner:specialty={}&_count={count}",
                    enc(code)
                ),
                Expect::Matches("Practitioner"),
            )
        }),
        pages: None,
    });
    let vv = v.clone();
    const INC: &str = "_include=PractitionerRole:practitioner&_include=PractitionerRole:organization&_include=PractitionerRole:location";
    out.push(Shape {
        key: "e",
        what: "_include of 3 targets: PractitionerRole?specialty=&_include=practitioner,organization,location",
        example: format!("{base}/PractitionerRole?specialty=207Q00000X&{INC}&_count={count}"),
        make: Box::new(move |r| {
            let code = pick(&vv.specialties, r);
            (
                format!("{base}/PractitionerRole?specialty={}&{INC}&_count={count}", enc(code)),
                Expect::Includes(
                    "PractitionerRole",
                    &["Practitioner", "Organization", "Location"],
                ),
            )
        }),
        pages: None,
    });
    let vv = v.clone();
    out.push(Shape {
        key: "f",
        what: "near 10 km, by distance: Location?near=lat|lon|10|km",
        example: format!("{base}/Location?near=41.2565|-95.9345|10|km&_count={count}"),
        make: Box::new(move |r| {
            let (lat, lon) = *pick(&vv.positions, r);
            (
                format!("{base}/Location?near={lat}|{lon}|{KM}|km&_count={count}"),
                Expect::Near { lat, lon, km: KM },
            )
        }),
        pages: None,
    });
    let vv = v.clone();
    out.push(Shape {
        key: "g",
        what: "paging: PractitionerRole?specialty= pages 1..N via next",
        example: format!("{base}/PractitionerRole?specialty=207Q00000X&_count={count}"),
        make: Box::new(move |r| {
            let code = pick(&vv.deep_specialties, r);
            (
                format!(
                    "{base}/PractitionerRole?specialty={}&_count={count}",
                    enc(code)
                ),
                Expect::Matches("PractitionerRole"),
            )
        }),
        pages: Some(o.pages),
    });
    // Half the Practitioners are female, half male: at 1M resources each gender matches
    // more than 100k.
    let min_total = (v.counts["Practitioner"] as u64) / 3;
    out.push(Shape {
        key: "h",
        what: "_total=accurate: Practitioner?gender=female|male&_total=accurate",
        example: format!("{base}/Practitioner?gender=female&_total=accurate&_count={count}"),
        make: Box::new(move |r| {
            let g = if splitmix(r).is_multiple_of(2) {
                "female"
            } else {
                "male"
            };
            (
                format!("{base}/Practitioner?gender={g}&_total=accurate&_count={count}"),
                Expect::Total("Practitioner", min_total),
            )
        }),
        pages: None,
    });
    // `$find-providers` (issue 20) and the plain search a client would make instead (no
    // ranking, no per-network detail), on the same cases.
    let vv = v.clone();
    out.push(Shape {
        key: "i",
        what: "$find-providers?specialty=&zip=&network=",
        example: format!("{base}/$find-providers?specialty=207Q00000X&zip=06103&network=Organization/network-000001&type=individual"),
        make: Box::new(move |r| {
            let c = pick(&vv.finder, r);
            (
                format!(
                    "{base}/$find-providers?specialty={}&zip={}&network={}&type=individual&_count={count}",
                    enc(&c.specialty),
                    c.zip,
                    enc(&c.network)
                ),
                Expect::Matches("Practitioner"),
            )
        }),
        pages: None,
    });
    let vv = v.clone();
    out.push(Shape {
        key: "i0",
        what: "plain equivalent of i: PractitionerRole?specialty=&network=&location.near=&_include",
        example: format!("{base}/PractitionerRole?specialty=207Q00000X&network=Organization/network-000001&location.near=41.77|-72.67|25|mi&_include=PractitionerRole:practitioner&_include=PractitionerRole:location"),
        make: Box::new(move |r| {
            let c = pick(&vv.finder, r);
            (
                format!(
                    "{base}/PractitionerRole?specialty={}&network={}&location.near={}|{}|25|mi&_include=PractitionerRole:practitioner&_include=PractitionerRole:location&_count={count}",
                    enc(&c.specialty),
                    enc(&c.network),
                    c.lat,
                    c.lon
                ),
                Expect::Matches("PractitionerRole"),
            )
        }),
        pages: None,
    });
    out
}

/// Shapes j and j0: a name in a city, by `$find-providers` and by the plain chained search.
fn name_city_shapes(v: Arc<Values>, o: &SearchOptions) -> Vec<Shape> {
    let count = o.page_size;
    let base: &'static str = Box::leak(format!("/fhir/{}", o.tenant).into_boxed_str());
    let vv = v.clone();
    vec![
        Shape {
            key: "j",
            what: "$find-providers?name=&city=&state=",
            example: format!("{base}/$find-providers?name=Smith&city=Hartford&state=CT&type=individual"),
            make: Box::new(move |r| {
                let c = pick(&vv.finder, r);
                (
                    format!(
                        "{base}/$find-providers?name={}&city={}&state={}&type=individual&_count={count}",
                        enc(&c.family),
                        enc(c.city),
                        c.state
                    ),
                    Expect::Matches("Practitioner"),
                )
            }),
            pages: None,
        },
        Shape {
            key: "j0",
            what: "plain equivalent of j: PractitionerRole?practitioner.name=&location.near=&_include",
            example: format!("{base}/PractitionerRole?practitioner.name=Smith&location.near=41.77|-72.67|25|mi&_include=PractitionerRole:practitioner"),
            make: Box::new(move |r| {
                let c = pick(&v.finder, r);
                (
                    format!(
                        "{base}/PractitionerRole?practitioner.name={}&location.near={}|{}|25|mi&_include=PractitionerRole:practitioner&_include=PractitionerRole:location&_count={count}",
                        enc(&c.family),
                        c.lat,
                        c.lon
                    ),
                    Expect::Matches("PractitionerRole"),
                )
            }),
            pages: None,
        },
    ]
}

/// Great-circle distance in km (haversine).
fn km_between(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, lo1, la2, lo2) = (
        a.0.to_radians(),
        a.1.to_radians(),
        b.0.to_radians(),
        b.1.to_radians(),
    );
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * 6371.0088 * h.sqrt().asin()
}

/// Checks one answer; returns the `next` link's path, if any, and the match count.
fn check(body: &[u8], expect: &Expect) -> anyhow::Result<(Option<String>, usize)> {
    let b: Value = serde_json::from_slice(body).context("body is not JSON")?;
    if b["resourceType"] != "Bundle" || b["type"] != "searchset" {
        bail!("not a searchset Bundle");
    }
    let entries = b["entry"].as_array().map(Vec::as_slice).unwrap_or_default();
    let mode = |e: &Value| e["search"]["mode"].as_str().unwrap_or("match").to_owned();
    let matches: Vec<&Value> = entries
        .iter()
        .filter(|e| mode(e) == "match")
        .map(|e| &e["resource"])
        .collect();
    if matches.is_empty() {
        bail!("no matches");
    }
    let ty = match expect {
        Expect::Matches(t) | Expect::Includes(t, _) | Expect::Total(t, _) => t,
        Expect::Near { .. } => "Location",
    };
    if let Some(bad) = matches.iter().find(|r| r["resourceType"] != *ty) {
        bail!("match of type {} (expected {ty})", bad["resourceType"]);
    }
    match expect {
        Expect::Matches(_) => {}
        Expect::Includes(_, types) => {
            let inc: Vec<&Value> = entries.iter().filter(|e| mode(e) == "include").collect();
            if inc.is_empty() {
                bail!("no included resources");
            }
            if let Some(bad) = inc.iter().find(|e| {
                !types
                    .iter()
                    .any(|t| e["resource"]["resourceType"].as_str() == Some(t))
            }) {
                bail!("included {}", bad["resource"]["resourceType"]);
            }
        }
        Expect::Near { lat, lon, km } => {
            let mut last = 0.0;
            for m in &matches {
                let p = &m["position"];
                let (Some(la), Some(lo)) = (p["latitude"].as_f64(), p["longitude"].as_f64()) else {
                    bail!("near match {} without position", m["id"]);
                };
                let d = km_between((*lat, *lon), (la, lo));
                // The server's distance (equirectangular) and haversine differ by well under 0.5 %.
                if d > km * 1.005 {
                    bail!("near match {} is {d:.2} km away", m["id"]);
                }
                if d < last * 0.995 - 1e-6 {
                    bail!("near matches not sorted by distance");
                }
                last = d;
            }
        }
        Expect::Total(_, min) => {
            let total = b["total"].as_u64().context("no total")?;
            if total < *min {
                bail!("total {total} < {min}");
            }
        }
    }
    let next = b["link"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["relation"] == "next")
        .and_then(|l| l["url"].as_str())
        .map(|u| match u.split_once("://") {
            // Absolute link: keep path and query.
            Some((_, rest)) => rest
                .find('/')
                .map_or("/".to_owned(), |i| rest[i..].to_owned()),
            None => u.to_owned(),
        });
    Ok((next, matches.len()))
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn connect(addr: SocketAddr) -> anyhow::Result<Sender> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// One GET; the status and body, and its latency in microseconds.
async fn get(sender: &mut Sender, path: &str) -> anyhow::Result<(http::StatusCode, Bytes, u32)> {
    let req = Request::get(path)
        .header(header::HOST, "127.0.0.1")
        .header(header::ACCEPT, "application/fhir+json")
        .body(Empty::new())?;
    let t0 = Instant::now();
    sender.ready().await?;
    let resp = sender.send_request(req).await?;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    let us = u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX);
    Ok((status, body, us))
}

/// What one client (or all, merged) saw.
#[derive(Default)]
struct Tally {
    /// Latencies (µs) of measured requests.
    lat: Vec<u32>,
    /// Paging: latencies of page 1 and of the last page of measured walks.
    first: Vec<u32>,
    last: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
    matches: u64,
}

impl Tally {
    fn merge(&mut self, o: Tally) {
        self.lat.extend(o.lat);
        self.first.extend(o.first);
        self.last.extend(o.last);
        self.errors += o.errors;
        self.matches += o.matches;
        if self.first_error.is_none() {
            self.first_error = o.first_error;
        }
    }
}

/// When a client stops, and which requests it measures.
#[derive(Clone, Copy)]
enum Until {
    /// `warm` unmeasured units, then `n` measured ones (a unit is a request, or a walk).
    Count { warm: usize, n: usize },
    /// Measure the requests that start at or after `from` and end before `to`.
    Time { from: Instant, to: Instant },
}

async fn client(
    addr: SocketAddr,
    shape: Arc<Shape>,
    mut rng: u64,
    until: Until,
) -> anyhow::Result<Tally> {
    let mut t = Tally::default();
    let mut sender = connect(addr).await?;
    let mut unit = 0usize;
    loop {
        let measured_unit = match until {
            Until::Count { warm, n } => {
                if unit >= warm + n {
                    break;
                }
                unit >= warm
            }
            Until::Time { to, .. } => {
                if Instant::now() >= to {
                    break;
                }
                true
            }
        };
        unit += 1;
        let (mut path, expect) = (shape.make)(&mut rng);
        let pages = shape.pages.unwrap_or(1);
        for page in 1..=pages {
            let start = Instant::now();
            let answer = get(&mut sender, &path).await;
            let end = Instant::now();
            let result = answer.and_then(|(status, body, us)| {
                if status != http::StatusCode::OK {
                    let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
                    bail!("HTTP {status}: {text}");
                }
                let (next, n) = check(&body, &expect)?;
                Ok((next, n, us))
            });
            match result {
                Ok((next, n, us)) => {
                    let counted = match until {
                        Until::Count { .. } => measured_unit,
                        Until::Time { from, to } => start >= from && end <= to,
                    };
                    if counted {
                        t.lat.push(us);
                        t.matches += n as u64;
                        if shape.pages.is_some() && page == 1 {
                            t.first.push(us);
                        }
                        if shape.pages.is_some() && page == pages {
                            t.last.push(us);
                        }
                    }
                    match next {
                        Some(n) => path = n,
                        None if page < pages => {
                            t.errors += 1;
                            t.first_error
                                .get_or_insert(format!("no next link on page {page} of {path}"));
                            break;
                        }
                        None => {}
                    }
                }
                Err(e) => {
                    t.errors += 1;
                    t.first_error.get_or_insert(format!("{path}: {e:#}"));
                    sender = connect(addr).await?;
                    break;
                }
            }
            if let Until::Time { to, .. } = until {
                if Instant::now() >= to {
                    break;
                }
            }
        }
    }
    Ok(t)
}

/// Nearest-rank percentile of sorted µs values, in ms.
fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    f64::from(sorted[rank.clamp(1, sorted.len()) - 1]) / 1000.0
}

fn valid(key: &str, clients: usize, t: &Tally) -> String {
    match &t.first_error {
        None => String::new(),
        Some(e) => format!(
            "\n> INVALID ({key}, {clients} clients): {} errors, first: {e}",
            t.errors
        ),
    }
}

/// Runs every selected shape and prints the markdown tables.
pub async fn run(addr: SocketAddr, pid: Option<u32>, o: &SearchOptions) -> anyhow::Result<bool> {
    let t0 = Instant::now();
    let deep = o.page_size * o.pages;
    let values = Arc::new(Values::load(&o.data, deep)?);
    println!(
        "- data: `{}` ({}); values drawn from it: {} specialty codings ({} codes with >= {deep} roles for paging), {} family-name prefixes, {} cities, {} positions (read in {:.1} s)",
        o.data.display(),
        values
            .counts
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect::<Vec<_>>()
            .join(", "),
        values.specialties.len(),
        values.deep_specialties.len(),
        values.name_prefixes.len(),
        values.cities.len(),
        values.positions.len(),
        t0.elapsed().as_secs_f64()
    );
    println!(
        "- 1 client: {} warm-up + {} measured requests (paging: 1 + {} walks of {} pages); {} clients: 2 s warm-up + {} s; page size {}\n",
        o.warmup,
        o.requests,
        o.walks,
        o.pages,
        o.connections,
        o.duration.as_secs(),
        o.page_size
    );
    println!("| {} | shape | 1 client p50 ms | p95 ms | p99 ms | {} clients req/s | p50 ms | p95 ms | matches/answer | errors | server CPU ms/req | load1 |", o.label, o.connections);
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut ok = true;
    let mut notes = Vec::new();
    let mut paging = None;
    for shape in shapes(values.clone(), o)
        .into_iter()
        .chain(name_city_shapes(values, o))
    {
        if !o.only.is_empty() && !o.only.iter().any(|k| k == shape.key) {
            continue;
        }
        let shape = Arc::new(shape);
        // One client.
        let until = if shape.pages.is_some() {
            Until::Count {
                warm: 1,
                n: o.walks,
            }
        } else {
            Until::Count {
                warm: o.warmup,
                n: o.requests,
            }
        };
        let mut one = client(addr, shape.clone(), 0x5EED ^ shape.key.len() as u64, until).await?;
        one.lat.sort_unstable();
        one.first.sort_unstable();
        one.last.sort_unstable();
        // Many clients.
        let cpu0 = pid.and_then(child::cpu_seconds);
        let start = Instant::now();
        let from = start + Duration::from_secs(2);
        let to = from + o.duration;
        let mut tasks = Vec::new();
        for c in 0..o.connections {
            let seed = 0x9E37_79B9_7F4A_7C15_u64.wrapping_mul(c as u64 + 1);
            tasks.push(tokio::spawn(client(
                addr,
                shape.clone(),
                seed,
                Until::Time { from, to },
            )));
        }
        let mut many = Tally::default();
        for t in tasks {
            many.merge(t.await.context("client panicked")??);
        }
        let sent = many.lat.len();
        let cpu = match (cpu0, pid.and_then(child::cpu_seconds)) {
            // CPU over the whole multi-client run (warm-up included) per measured request:
            // an upper bound.
            (Some(a), Some(b)) => format!("{:.2}", (b - a) * 1000.0 / sent.max(1) as f64),
            _ => "?".into(),
        };
        many.lat.sort_unstable();
        let errors = one.errors + many.errors;
        ok &= errors == 0;
        println!(
            "| {} | ({}) {} | {:.2} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} | {:.1} | {} | {} | {} |",
            o.label,
            shape.key,
            // `|` inside a markdown table cell must be escaped.
            shape.what.replace('|', "\\|"),
            pct(&one.lat, 50.0),
            pct(&one.lat, 95.0),
            pct(&one.lat, 99.0),
            sent as f64 / o.duration.as_secs_f64(),
            pct(&many.lat, 50.0),
            pct(&many.lat, 95.0),
            one.matches as f64 / one.lat.len().max(1) as f64,
            errors,
            cpu,
            child::load1()
        );
        notes.push(valid(shape.key, 1, &one));
        notes.push(valid(shape.key, o.connections, &many));
        if shape.pages.is_some() {
            paging = Some(format!(
                "\n| {} | paging, 1 client, {} walks | page 1 p50 / p95 ms | page {} p50 / p95 ms | all pages p50 / p95 ms |\n|---|---|---:|---:|---:|\n| {} | {} | {:.2} / {:.2} | {:.2} / {:.2} | {:.2} / {:.2} |",
                o.label,
                o.walks,
                o.pages,
                o.label,
                shape.example,
                pct(&one.first, 50.0),
                pct(&one.first, 95.0),
                pct(&one.last, 50.0),
                pct(&one.last, 95.0),
                pct(&one.lat, 50.0),
                pct(&one.lat, 95.0),
            ));
        }
    }
    if let Some(p) = paging {
        println!("{p}");
    }
    for n in notes.iter().filter(|n| !n.is_empty()) {
        println!("{n}");
    }
    Ok(ok)
}

/// `search` with `--database`: starts `fhirdir serve` on it, runs, stops the server.
pub async fn run_with_server(
    fhirdir: &Path,
    database: &str,
    log: &Path,
    o: &SearchOptions,
) -> anyhow::Result<bool> {
    let mut cmd = tokio::process::Command::new(fhirdir);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--database", database]);
    let server = Server::start(cmd, Some(log)).await?;
    let result = run(server.addr, server.pid(), o).await;
    server.stop().await?;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_near_answers_for_distance_and_order() {
        let loc = |id: &str, lat: f64, lon: f64| serde_json::json!({"search": {"mode": "match"}, "resource": {"resourceType": "Location", "id": id, "position": {"latitude": lat, "longitude": lon}}});
        let body = |e: Vec<Value>| {
            serde_json::to_vec(&serde_json::json!({"resourceType": "Bundle", "type": "searchset", "entry": e, "link": [{"relation": "next", "url": "http://h:1/fhir/default/Location?_page=x"}]})).unwrap_or_default()
        };
        let near = Expect::Near {
            lat: 41.0,
            lon: -96.0,
            km: 10.0,
        };
        let sorted = body(vec![loc("a", 41.0, -96.0), loc("b", 41.05, -96.0)]);
        let (next, n) = check(&sorted, &near).expect("valid");
        assert_eq!(
            (next.as_deref(), n),
            (Some("/fhir/default/Location?_page=x"), 2)
        );
        assert!(check(
            &body(vec![loc("b", 41.05, -96.0), loc("a", 41.0, -96.0)]),
            &near
        )
        .is_err());
        assert!(check(&body(vec![loc("far", 42.0, -96.0)]), &near).is_err());
        assert!(check(&body(vec![]), &near).is_err());
    }

    #[test]
    fn encodes_query_values() {
        assert_eq!(enc("Colorado Springs"), "Colorado%20Springs");
        assert_eq!(enc("41.2|-95.9|10|km"), "41.2|-95.9|10|km");
    }

    #[test]
    fn haversine_is_about_right() {
        let d = km_between((41.0, -96.0), (42.0, -96.0));
        assert!((d - 111.2).abs() < 0.2, "{d}");
    }
}
