//! `fhirdir-bench subscriptions`: topic-based Subscriptions (issue 17).
//!
//! Per backend, the real `fhirdir serve` (a child process, authorization off, outbound
//! requests allowed to loopback) runs on a fresh database, and a subscriber (an axum server in
//! this process) on loopback records when each notification event arrives.
//!
//! - **Latency**: one subscription (fhirdir's Practitioner topic, id-only); `--writes`
//!   sequential `PUT Practitioner/lat-{i}`; for each, the time from the write's answer (its
//!   commit) to the notification naming that version. p50, p95, max.
//! - **Throughput**: the transaction benchmark's 100-entry attestations, `--clients`
//!   clients for `--duration` s, with no active subscription and with `--subscriptions` active
//!   ones (spread over the fhirdir topics of the five types an attestation writes, id-only,
//!   `backport-max-count` 100), alternated A B A B (subscriptions set `off` and `requested`
//!   between rounds). Reported: transactions/s of each round and the ratio of the sums.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use bytes::Bytes;
use http::{header, Method, Request};
use http_body_util::Full;
use serde_json::{json, Value};
use tokio::process::Command;

use crate::child::Server;
use crate::load::{MakeRequest, Stop};
use crate::transaction::{attestation, post_bundle, send, Shape};
use crate::Backend;

const BACKPORT: &str = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/";
const TOPIC_BASE: &str = "http://fhirdir.org/topic/";
const BASE: &str = "/fhir/default";

/// `fhirdir-bench subscriptions` arguments.
#[derive(clap::Args, Debug)]
pub struct NotifyArgs {
    #[arg(long, value_enum, default_value = "both")]
    backend: Backend,
    /// Sequential writes whose notification latency is measured.
    #[arg(long, default_value_t = 200)]
    writes: usize,
    /// Active subscriptions in the "with" rounds.
    #[arg(long, default_value_t = 100)]
    subscriptions: usize,
    /// Transaction clients.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Measured seconds per round.
    #[arg(long, default_value_t = 15)]
    duration: u64,
    /// A B rounds (each: without, then with).
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    #[arg(long)]
    fhirdir: Option<PathBuf>,
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_url: String,
}

/// What the subscriber saw: the arrival of each event's focus, and how many events.
#[derive(Clone, Default)]
struct Subscriber {
    arrived: Arc<Mutex<HashMap<String, Instant>>>,
    events: Arc<AtomicU64>,
}

impl Subscriber {
    async fn start(&self) -> anyhow::Result<String> {
        let me = self.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: Bytes| {
                let me = me.clone();
                async move {
                    let now = Instant::now();
                    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let parameters = v["entry"][0]["resource"]["parameter"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    let mut arrived = me.arrived.lock().unwrap_or_else(|p| p.into_inner());
                    for p in parameters
                        .iter()
                        .filter(|p| p["name"] == "notification-event")
                    {
                        if let Some(focus) = p["part"][2]["valueReference"]["reference"].as_str() {
                            arrived.entry(focus.to_owned()).or_insert(now);
                            me.events.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    http::StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(format!("http://{addr}/hook"))
    }
}

pub(crate) fn request(method: Method, path: &str, body: Option<&Value>) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "127.0.0.1")
        .header(header::ACCEPT, "application/fhir+json")
        .header(header::CONTENT_TYPE, "application/fhir+json")
        .body(Full::new(Bytes::from(
            body.map(Value::to_string).unwrap_or_default(),
        )))
        .unwrap_or_default()
}

fn subscription(hook: &str, rtype: &str, status: &str) -> Value {
    json!({
        "resourceType": "Subscription",
        "status": status,
        "reason": "benchmark",
        "criteria": format!("{TOPIC_BASE}{}-create-update-delete", rtype.to_ascii_lowercase()),
        "channel": {
            "extension": [{"url": format!("{BACKPORT}backport-max-count"), "valuePositiveInt": 100}],
            "type": "rest-hook",
            "endpoint": hook,
            "payload": "application/fhir+json",
            "_payload": {"extension": [{"url": format!("{BACKPORT}backport-payload-content"), "valueCode": "id-only"}]}
        }
    })
}

/// PUTs subscriptions `ids` with `status` and waits until each has the status the server
/// gives it (`active` after the handshake, or `off`).
async fn set_all(
    addr: SocketAddr,
    hook: &str,
    ids: &[(String, &str)],
    status: &str,
) -> anyhow::Result<()> {
    for (id, rtype) in ids {
        let mut s = subscription(hook, rtype, status);
        s["id"] = json!(id);
        let (code, body) = send(
            addr,
            request(Method::PUT, &format!("{BASE}/Subscription/{id}"), Some(&s)),
        )
        .await?;
        ensure!(
            code == 200 || code == 201,
            "PUT Subscription/{id}: {code} {body}"
        );
    }
    let want = if status == "off" { "off" } else { "active" };
    let start = Instant::now();
    for (id, _) in ids {
        loop {
            let (_, body) = send(
                addr,
                request(Method::GET, &format!("{BASE}/Subscription/{id}"), None),
            )
            .await?;
            if body["status"] == want {
                break;
            }
            ensure!(
                start.elapsed() < Duration::from_secs(60),
                "Subscription/{id} stays {}",
                body["status"]
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(())
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub async fn main(a: NotifyArgs) -> anyhow::Result<()> {
    let fhirdir = crate::fhirdir_binary(a.fhirdir.clone())?;
    let backends = a.backend.names();
    println!("{}", crate::report::machine_facts());
    for backend in backends {
        let dir = tempfile::tempdir()?;
        let (database, pg) =
            crate::child::fresh_database(backend, dir.path(), &a.postgres_url).await?;
        let result = run_backend(
            backend,
            &fhirdir,
            &database,
            &dir.path().join("fhirdir.log"),
            &a,
        )
        .await;
        if let Some(db) = pg {
            db.drop_now().await?;
        }
        result?;
    }
    Ok(())
}

async fn run_backend(
    backend: &str,
    fhirdir: &Path,
    database: &str,
    log: &Path,
    a: &NotifyArgs,
) -> anyhow::Result<()> {
    let mut cmd = Command::new(fhirdir);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--database", database]);
    cmd.env("FHIRDIR_AUTH", "off");
    cmd.env("FHIRDIR_OUTBOUND_ALLOW", "127.0.0.1");
    let server = Server::start(cmd, Some(log)).await?;
    let (addr, pid) = (server.addr, server.pid());
    let subscriber = Subscriber::default();
    let hook = subscriber.start().await?;

    // Latency: one subscription, sequential writes.
    set_all(
        addr,
        &hook,
        &[("latency".into(), "Practitioner")],
        "requested",
    )
    .await?;
    let mut ms = Vec::with_capacity(a.writes);
    for i in 0..a.writes {
        let id = format!("lat-{i}");
        let p = json!({"resourceType": "Practitioner", "id": id, "name": [{"family": "Latency"}]});
        let (code, body) = send(
            addr,
            request(Method::PUT, &format!("{BASE}/Practitioner/{id}"), Some(&p)),
        )
        .await?;
        ensure!(code == 201, "PUT Practitioner/{id}: {code} {body}");
        let committed = Instant::now();
        let focus = format!("http://{addr}{BASE}/Practitioner/{id}/_history/1");
        loop {
            let got = subscriber
                .arrived
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&focus)
                .copied();
            if let Some(at) = got {
                ms.push(at.saturating_duration_since(committed).as_secs_f64() * 1000.0);
                break;
            }
            ensure!(
                committed.elapsed() < Duration::from_secs(10),
                "no notification for {focus}"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    ms.sort_by(f64::total_cmp);
    println!(
        "| {backend} | notification latency, {} writes | p50 {:.0} ms | p95 {:.0} ms | max {:.0} ms |",
        ms.len(),
        percentile(&ms, 50.0),
        percentile(&ms, 95.0),
        ms.last().copied().unwrap_or(f64::NAN)
    );
    set_all(addr, &hook, &[("latency".into(), "Practitioner")], "off").await?;

    // Throughput: A (none active) B (N active), alternated.
    let types = [
        "Organization",
        "Endpoint",
        "Location",
        "Practitioner",
        "PractitionerRole",
    ];
    let subs: Vec<(String, &str)> = (0..a.subscriptions)
        .map(|i| (format!("bench-{i}"), types[i % types.len()]))
        .collect();
    let shape = Shape::new(100)?;
    let numbers = Arc::new(AtomicU64::new(0));
    let make: MakeRequest = Arc::new(move |_seq| {
        let n = numbers.fetch_add(1, Ordering::Relaxed);
        post_bundle(Bytes::from(attestation(n, shape).to_string()))
    });
    let stop = Stop::Timed {
        warmup: Duration::from_secs(2),
        measure: Duration::from_secs(a.duration),
    };
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for round in 0..a.rounds {
        for active in [false, true] {
            if active {
                set_all(addr, &hook, &subs, "requested").await?;
            } else if round > 0 {
                set_all(addr, &hook, &subs, "off").await?;
            }
            let before = subscriber.events.load(Ordering::Relaxed);
            let o = crate::rest::measure(pid, addr, a.clients, stop, make.clone()).await?;
            ensure!(
                o.errors == 0,
                "{} failed transactions: {:?}",
                o.errors,
                o.first_error
            );
            let events = subscriber.events.load(Ordering::Relaxed) - before;
            println!(
                "| {backend} | round {} | {} active subscriptions | {:.1} tx/s | p50 {:.0} ms | notification events received {events} |",
                round + 1,
                if active { a.subscriptions } else { 0 },
                o.rps(),
                o.percentile_ms(50.0),
            );
            if active {
                with.push(o.rps())
            } else {
                without.push(o.rps())
            }
        }
    }
    let ratio = with.iter().sum::<f64>() / without.iter().sum::<f64>();
    println!(
        "| {backend} | {} clients, 100-entry transactions | with {} subscriptions / without: {ratio:.2} |",
        a.clients, a.subscriptions
    );
    server.stop().await.context("stopping fhirdir")?;
    Ok(())
}
