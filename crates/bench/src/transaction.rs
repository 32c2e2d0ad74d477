//! `fhirdir-bench transaction`: transaction Bundle throughput (issue 4).
//!
//! Per backend, the real `fhirdir serve` (a child process) runs on a fresh database; each
//! client count in `--clients` then runs a closed loop of `POST [base]` transaction Bundles
//! of `--entries` entries for `--duration` seconds after `--warmup`. Every Bundle is one
//! provider attestation: an Organization created only if its NPI is new (`ifNoneExist`), its
//! Endpoint, a few Locations and Practitioner + PractitionerRole pairs, all linked by
//! `urn:uuid` references the server rewrites. Every Bundle has fresh NPIs, so every entry is a
//! create.
//!
//! Reported per backend and client count: transactions/s, resources/s, p50/p95/p99 latency
//! of one transaction, server CPU per transaction. Checked: the first answer in full (one
//! `201` per entry, references rewritten to the created ids), every other answer's status
//! (any error makes the run invalid), and at the end that the database holds exactly one
//! Organization per transaction answered 200.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use bytes::Bytes;
use http::{header, Method, Request};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use tokio::process::Command;

use crate::child::Server;
use crate::load::{MakeRequest, Outcome, Stop};
use crate::Backend;

/// `fhirdir-bench transaction` arguments.
#[derive(clap::Args, Debug)]
pub struct TransactionArgs {
    /// Which backend(s) to measure.
    #[arg(long, value_enum, default_value = "both")]
    backend: Backend,
    /// Concurrent clients, one measured run per value (comma separated).
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    clients: Vec<usize>,
    /// Entries per transaction Bundle (at least 6).
    #[arg(long, default_value_t = 100)]
    entries: usize,
    /// Measured seconds per client count.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Unmeasured warm-up seconds before each measured window.
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// The tenant's validation modes to measure (off, warn, enforce; comma separated): each
    /// client count runs once per mode, in this order.
    #[arg(long, value_delimiter = ',', default_value = "warn")]
    validation: Vec<String>,
    /// A FHIR package (folder or .tgz) the server loads (`--profiles`) and the tenant
    /// activates, every PractitionerRole then required to meet `--profile` (in the modes
    /// other than off).
    #[arg(long)]
    package: Option<PathBuf>,
    /// The profile of `--package` required of every PractitionerRole.
    #[arg(
        long,
        default_value = "http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition/plannet-PractitionerRole"
    )]
    profile: String,
    /// The fhirdir binary (default: `fhirdir` next to this executable, i.e. target/release).
    #[arg(long)]
    fhirdir: Option<PathBuf>,
    /// Admin connection used to CREATE and DROP the throw-away Postgres database.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_url: String,
}

const BASE: &str = "/fhir/default";
const NPI: &str = "http://hl7.org/fhir/sid/us-npi";

/// How an attestation of `entries` entries is made up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Shape {
    locations: usize,
    /// Practitioner + PractitionerRole pairs.
    pairs: usize,
}

impl Shape {
    /// Organization + Endpoint + 2 or 3 Locations + pairs, `entries` in all.
    pub(crate) fn new(entries: usize) -> anyhow::Result<Shape> {
        ensure!(entries >= 6, "--entries must be at least 6");
        let locations = 2 + entries % 2;
        Ok(Shape {
            locations,
            pairs: (entries - 2 - locations) / 2,
        })
    }

    fn entries(self) -> usize {
        2 + self.locations + 2 * self.pairs
    }
}

/// A `urn:uuid` unique to (`bundle`, `kind`, `i`).
fn urn(bundle: u64, kind: u16, i: usize) -> String {
    format!(
        "urn:uuid:{:08x}-{:04x}-4{:03x}-8{kind:03x}-{i:012x}",
        bundle >> 32,
        (bundle >> 16) & 0xffff,
        bundle & 0xfff
    )
}

/// The attestation Bundle for sequence number `seq` (distinct `seq`s give distinct NPIs).
pub(crate) fn attestation(seq: u64, shape: Shape) -> Value {
    let tag = format!("{seq:016x}");
    let org = urn(seq, 1, 0);
    let ep = urn(seq, 2, 0);
    let locs: Vec<String> = (0..shape.locations).map(|i| urn(seq, 3, i)).collect();
    let city = ["Hartford", "Springfield", "Worcester", "Albany"][(seq % 4) as usize];
    let mut entries = vec![
        json!({
            "fullUrl": org,
            "resource": {
                "resourceType": "Organization",
                "active": true,
                "identifier": [{"system": NPI, "value": format!("o{tag}")}],
                "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type", "code": "prov"}]}],
                "name": format!("Attested Group {tag}"),
                "telecom": [{"system": "phone", "value": "(860) 555-0100", "use": "work"}],
                "address": [{"line": ["1 Main St"], "city": city, "state": "CT", "postalCode": "06103"}]
            },
            "request": {"method": "POST", "url": "Organization", "ifNoneExist": format!("identifier={NPI}|o{tag}")}
        }),
        json!({
            "fullUrl": ep,
            "resource": {
                "resourceType": "Endpoint",
                "status": "active",
                "connectionType": {"system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type", "code": "hl7-fhir-rest"},
                "name": format!("Attested Group {tag} FHIR endpoint"),
                "managingOrganization": {"reference": org},
                "payloadType": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/endpoint-payload-type", "code": "any"}]}],
                "address": format!("https://g{tag}.example.org/fhir")
            },
            "request": {"method": "POST", "url": "Endpoint"}
        }),
    ];
    for (i, loc) in locs.iter().enumerate() {
        entries.push(json!({
            "fullUrl": loc,
            "resource": {
                "resourceType": "Location",
                "status": "active",
                "name": format!("Attested Group {tag} office {i}"),
                "address": {"line": [format!("{} Elm St", 10 + i)], "city": city, "state": "CT", "postalCode": "06103"},
                "position": {"latitude": 41.76 + i as f64 * 0.01, "longitude": -72.67},
                "managingOrganization": {"reference": org},
                "endpoint": [{"reference": ep}]
            },
            "request": {"method": "POST", "url": "Location"}
        }));
    }
    let specialties = ["207Q00000X", "208D00000X", "207R00000X", "208000000X"];
    for i in 0..shape.pairs {
        let prac = urn(seq, 4, i);
        entries.push(json!({
            "fullUrl": prac,
            "resource": {
                "resourceType": "Practitioner",
                "active": true,
                "identifier": [{"system": NPI, "value": format!("p{tag}{i:03}")}],
                "name": [{"family": format!("Family{}", ((seq % 997) as usize + i) % 997), "given": ["Alex"], "prefix": ["Dr."]}],
                "gender": if i % 2 == 0 { "female" } else { "male" },
                "qualification": [{"code": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0360", "code": "MD"}]}}]
            },
            "request": {"method": "POST", "url": "Practitioner"}
        }));
        entries.push(json!({
            "fullUrl": urn(seq, 5, i),
            "resource": {
                "resourceType": "PractitionerRole",
                "active": true,
                "practitioner": {"reference": prac},
                "organization": {"reference": org},
                "location": [{"reference": locs[i % locs.len()]}],
                "endpoint": [{"reference": ep}],
                "specialty": [{"coding": [{"system": "http://nucc.org/provider-taxonomy", "code": specialties[i % specialties.len()]}]}]
            },
            "request": {"method": "POST", "url": "PractitionerRole"}
        }));
    }
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

pub(crate) fn post_bundle(body: Bytes) -> Request<Full<Bytes>> {
    Request::builder()
        .method(Method::POST)
        .uri(BASE)
        .header(header::HOST, "127.0.0.1")
        .header(header::ACCEPT, "application/fhir+json")
        .header(header::CONTENT_TYPE, "application/fhir+json")
        .header("prefer", "return=minimal")
        .body(Full::new(body))
        .unwrap_or_default()
}

/// One request on a fresh connection; the status and the body.
pub(crate) async fn send(
    addr: SocketAddr,
    req: Request<Full<Bytes>>,
) -> anyhow::Result<(u16, Value)> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await?.to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok((status, body))
}

async fn get(addr: SocketAddr, path: &str) -> anyhow::Result<Value> {
    let req = Request::builder()
        .uri(path)
        .header(header::HOST, "127.0.0.1")
        .header(header::ACCEPT, "application/fhir+json")
        .body(Full::new(Bytes::new()))?;
    let (status, body) = send(addr, req).await?;
    ensure!(status == 200, "GET {path}: {status} {body}");
    Ok(body)
}

/// Posts one attestation and checks the whole answer: a `transaction-response` with one
/// `201 Created` per entry, and a PractitionerRole whose references point at the created
/// resources (no `urn:uuid` left).
async fn check_one(addr: SocketAddr, shape: Shape) -> anyhow::Result<()> {
    let bundle = attestation(u64::MAX, shape);
    let (status, body) = send(addr, post_bundle(Bytes::from(bundle.to_string()))).await?;
    ensure!(
        status == 200,
        "the first transaction answered {status}: {body}"
    );
    ensure!(
        body["type"] == "transaction-response",
        "not a transaction-response: {body}"
    );
    let entries = body["entry"].as_array().cloned().unwrap_or_default();
    ensure!(
        entries.len() == shape.entries(),
        "{} response entries for {} entries",
        entries.len(),
        shape.entries()
    );
    for e in &entries {
        let s = e["response"]["status"].as_str().unwrap_or_default();
        ensure!(s.starts_with("201"), "an entry answered {s:?}: {e}");
    }
    let role_location = entries
        .iter()
        .filter_map(|e| e["response"]["location"].as_str())
        .find(|l| l.contains("PractitionerRole/"))
        .context("no PractitionerRole in the response")?;
    let id = role_location
        .split("PractitionerRole/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .context("PractitionerRole location has no id")?;
    let role = get(addr, &format!("{BASE}/PractitionerRole/{id}")).await?;
    for field in ["practitioner", "organization"] {
        let reference = role[field]["reference"].as_str().unwrap_or_default();
        ensure!(
            !reference.starts_with("urn:") && reference.contains('/'),
            "PractitionerRole.{field} was not rewritten: {role}"
        );
        get(addr, &format!("{BASE}/{reference}")).await?;
    }
    Ok(())
}

/// Organizations in tenant `default` (one per committed attestation).
async fn organizations(addr: SocketAddr) -> anyhow::Result<u64> {
    let body = get(addr, &format!("{BASE}/Organization?_summary=count")).await?;
    body["total"]
        .as_u64()
        .with_context(|| format!("no total in {body}"))
}

/// One measured row.
pub struct Row {
    backend: String,
    clients: usize,
    outcome: Outcome,
}

/// Runs the `transaction` subcommand.
pub async fn main(a: TransactionArgs) -> anyhow::Result<()> {
    let shape = Shape::new(a.entries)?;
    let fhirdir = crate::fhirdir_binary(a.fhirdir)?;
    let backends = a.backend.names();
    let stop = Stop::Timed {
        warmup: Duration::from_secs(a.warmup),
        measure: Duration::from_secs(a.duration),
    };
    println!("{}", crate::report::machine_facts());
    println!(
        "- transactions of {} entries: 1 Organization (ifNoneExist on its NPI), 1 Endpoint, {} Locations, {} Practitioner + PractitionerRole pairs, linked by urn:uuid; tenant `default` of a fresh database; {} s warm-up + {} s measured per client count\n",
        shape.entries(),
        shape.locations,
        shape.pairs,
        a.warmup,
        a.duration
    );
    // The package's name and the folder the server reads it from.
    let profiles = match &a.package {
        Some(path) => {
            let loaded = conformance::package::load_definitions(path)?;
            let id = loaded
                .first()
                .and_then(|p| p.id.clone())
                .with_context(|| format!("{} is not a named FHIR package", path.display()))?;
            println!(
                "- validation modes other than off: the tenant activates {id} and requires {} of every PractitionerRole\n",
                a.profile
            );
            Some(Profiles {
                path: path.clone(),
                package: id,
                profile: a.profile.clone(),
            })
        }
        None => None,
    };
    println!("{DETAIL_HEADER}");
    let mut rows = Vec::new();
    for backend in backends {
        let dir = tempfile::tempdir()?;
        let (database, pg) =
            crate::child::fresh_database(backend, dir.path(), &a.postgres_url).await?;
        let log = dir.path().join("fhirdir.log");
        let run = Run {
            clients: &a.clients,
            modes: &a.validation,
            shape,
            stop,
            profiles: profiles.as_ref(),
        };
        let result = run_backend(backend, &fhirdir, &database, &log, run).await;
        if let Some(db) = pg {
            db.drop_now().await?;
        }
        match result {
            Ok(r) => rows.extend(r),
            Err(e) => {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(20).collect();
                eprintln!(
                    "fhirdir stderr (tail):\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
                return Err(e);
            }
        }
    }
    println!("\n{SUMMARY_HEADER}");
    for r in &rows {
        println!("{}", summary_row(r, shape.entries()));
    }
    Ok(())
}

/// What one backend runs: each client count under each validation mode.
struct Run<'a> {
    clients: &'a [usize],
    modes: &'a [String],
    shape: Shape,
    stop: Stop,
    profiles: Option<&'a Profiles>,
}

/// `--package`: where the server reads it, its name, the profile required.
struct Profiles {
    path: PathBuf,
    package: String,
    profile: String,
}

/// Sets tenant `default`'s validation mode (and `profiles`) in `database` (the server reads
/// it per request).
async fn set_validation(
    database: &str,
    mode: &str,
    profiles: Option<&Profiles>,
) -> anyhow::Result<()> {
    let store = store::Store::connect(database, &store::StoreOptions::default()).await?;
    let setting = match profiles {
        Some(p) if mode != "off" => json!({
            "mode": mode,
            "packages": [p.package],
            "require_profiles": {"PractitionerRole": [p.profile]}
        }),
        _ => json!({ "mode": mode }),
    }
    .to_string();
    store
        .set_tenant_setting(&store::TenantName::default_tenant(), "validation", &setting)
        .await?;
    store.close().await;
    Ok(())
}

async fn run_backend(
    backend: &str,
    fhirdir: &Path,
    database: &str,
    log: &Path,
    run: Run<'_>,
) -> anyhow::Result<Vec<Row>> {
    let Run {
        clients,
        modes,
        shape,
        stop,
        profiles,
    } = run;
    let mut cmd = Command::new(fhirdir);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--database", database]);
    if let Some(p) = profiles {
        cmd.arg("--profiles").arg(&p.path);
    }
    // Writes without tokens; an older binary ignores the variable.
    cmd.env("FHIRDIR_AUTH", "off");
    let server = Server::start(cmd, Some(log)).await?;
    let (addr, pid) = (server.addr, server.pid());
    eprintln!("{backend}: fhirdir on {addr}");
    check_one(addr, shape).await?;
    // Bundles are numbered here rather than by the load's sequence numbers, which repeat
    // across runs and connections in a timed run: every Bundle's NPIs are new (else
    // `ifNoneExist` would find an earlier Bundle's Organization).
    let numbers = Arc::new(AtomicU64::new(0));
    let make: MakeRequest = Arc::new(move |_seq| {
        let n = numbers.fetch_add(1, Ordering::Relaxed);
        post_bundle(Bytes::from(attestation(n, shape).to_string()))
    });
    let mut rows = Vec::new();
    for (mode, &c) in modes
        .iter()
        .flat_map(|m| clients.iter().map(move |c| (m, c)))
    {
        set_validation(database, mode, profiles).await?;
        let before = organizations(addr).await?;
        let outcome = crate::rest::measure(pid, addr, c.max(1), stop, make.clone()).await?;
        let row = Row {
            backend: format!("{backend}, validation {mode}"),
            clients: c,
            outcome,
        };
        println!("{}", detail_row(&row, shape.entries()));
        let o = &row.outcome;
        if o.errors > 0 {
            bail!(
                "{backend}, {c} clients: {} failed transactions (first: {}); the run is invalid",
                o.errors,
                o.first_error.as_deref().unwrap_or("?")
            );
        }
        // Every answered transaction (warm-up included) committed exactly one Organization.
        let added = organizations(addr).await? - before;
        ensure!(
            added == o.total,
            "{backend}, {c} clients: {} transactions answered 200 but {added} Organizations were added",
            o.total
        );
        rows.push(row);
    }
    server.stop().await?;
    Ok(rows)
}

const DETAIL_HEADER: &str = "| backend | clients | transactions | errors | tx/s | resources/s | p50 ms | p95 ms | p99 ms | server CPU ms/tx | load1 after |\n\
                             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

fn detail_row(r: &Row, entries: usize) -> String {
    let o = &r.outcome;
    format!(
        "| {} | {} | {} | {} | {:.1} | {:.0} | {:.1} | {:.1} | {:.1} | {} | {} |",
        r.backend,
        r.clients,
        o.ok,
        o.errors,
        o.rps(),
        o.rps() * entries as f64,
        o.percentile_ms(50.0),
        o.percentile_ms(95.0),
        o.percentile_ms(99.0),
        o.server_cpu_us()
            .map_or("?".into(), |us| format!("{:.1}", us / 1000.0)),
        crate::child::load1(),
    )
}

const SUMMARY_HEADER: &str =
    "| backend | clients | resources/s | transactions/s | p50 / p95 ms per transaction |\n\
                              |---|---:|---:|---:|---:|";

fn summary_row(r: &Row, entries: usize) -> String {
    let o = &r.outcome;
    format!(
        "| {} | {} | {:.0} | {:.1} | {:.1} / {:.1} |",
        r.backend,
        r.clients,
        o.rps() * entries as f64,
        o.rps(),
        o.percentile_ms(50.0),
        o.percentile_ms(95.0)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attestation_has_the_requested_entries_linked_by_distinct_urns() {
        for n in [6, 7, 100, 101] {
            let shape = Shape::new(n).expect("shape");
            assert_eq!(shape.entries(), n);
            let b = attestation(42, shape);
            let entries = b["entry"].as_array().expect("entries");
            assert_eq!(entries.len(), n);
            let urns: std::collections::HashSet<&str> = entries
                .iter()
                .filter_map(|e| e["fullUrl"].as_str())
                .collect();
            assert_eq!(urns.len(), n, "every entry has its own fullUrl");
            for e in entries {
                for field in ["practitioner", "organization", "managingOrganization"] {
                    if let Some(r) = e["resource"][field]["reference"].as_str() {
                        assert!(urns.contains(r), "{r} points outside the Bundle");
                    }
                }
            }
        }
        assert!(Shape::new(5).is_err());
        assert_ne!(
            attestation(1, Shape::new(6).expect("shape"))["entry"][0]["resource"]["identifier"],
            attestation(2, Shape::new(6).expect("shape"))["entry"][0]["resource"]["identifier"],
        );
    }

    #[test]
    fn urns_are_well_formed_uuids() {
        let u = urn(u64::MAX, 5, 47);
        let hex = u.strip_prefix("urn:uuid:").expect("prefix");
        let groups: Vec<usize> = hex.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "{u}");
        assert!(
            hex.chars().all(|c| c == '-' || c.is_ascii_hexdigit()),
            "{u}"
        );
    }
}
