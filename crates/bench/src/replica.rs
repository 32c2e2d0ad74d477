//! `fhirdir-bench federation`: a replica tenant following an upstream directory (issue 17).
//!
//! Per backend, two real `fhirdir serve` child processes (authorization off, outbound
//! requests allowed to loopback), a national one holding a generated directory
//! (`fhirdir generate --size N`, imported) and a state one on a fixed port whose tenant is
//! made the national's replica (`PUT /admin/tenants/default/upstream`, every directory type).
//!
//! - **Seed**: from the setting until the replica follows with nothing left to apply:
//!   resources copied per second.
//! - **Follow latency**: `--writes` sequential `PUT Practitioner/lat-{i}` on the national; the
//!   time from each answer to the version being readable on the replica (polled every 2 ms).
//! - **Catch-up**: the state server is stopped; `--changes` Practitioners are written on the
//!   national (100-entry transactions); the state server starts again on its port; the time
//!   until the last one reads on the replica with nothing left to apply: changes per second.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use bytes::Bytes;
use http::{header, Method, Request};
use http_body_util::Full;
use serde_json::{json, Value};
use tokio::process::Command;

use crate::child::Server;
use crate::notify::{self, percentile};
use crate::transaction::send;
use crate::Backend;

const BASE: &str = "/fhir/default";
const ADMIN: &str = "bench-admin";

/// `fhirdir-bench federation` arguments.
#[derive(clap::Args, Debug)]
pub struct ReplicaArgs {
    #[arg(long, value_enum, default_value = "both")]
    backend: Backend,
    /// Size of the generated directory on the national (`fhirdir generate --size`).
    #[arg(long, default_value_t = 2000)]
    size: u64,
    /// Sequential writes whose follow latency is measured.
    #[arg(long, default_value_t = 100)]
    writes: usize,
    /// Changes written while the replica is down.
    #[arg(long, default_value_t = 5000)]
    changes: usize,
    #[arg(long)]
    fhirdir: Option<PathBuf>,
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_url: String,
}

/// [`notify::request`], with the admin token on `/admin` paths.
fn request(method: Method, path: &str, body: Option<&Value>) -> Request<Full<Bytes>> {
    let mut r = notify::request(method, path, body);
    if path.starts_with("/admin") {
        if let Ok(v) = format!("Bearer {ADMIN}").parse() {
            r.headers_mut().insert(header::AUTHORIZATION, v);
        }
    }
    r
}

fn serve(fhirdir: &Path, database: &str, listen: &str) -> Command {
    let mut cmd = Command::new(fhirdir);
    cmd.args(["serve", "--listen", listen, "--database", database]);
    cmd.env("FHIRDIR_AUTH", "off");
    cmd.env("FHIRDIR_OUTBOUND_ALLOW", "127.0.0.1");
    cmd.env("FHIRDIR_ADMIN_TOKEN", ADMIN);
    cmd.env("FHIRDIR_LOG", "warn");
    cmd
}

async fn run(cmd: &mut Command, what: &str) -> anyhow::Result<()> {
    let out = cmd.output().await.with_context(|| what.to_owned())?;
    ensure!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// The replica's setting.
async fn setting(state: SocketAddr) -> anyhow::Result<Value> {
    let (code, body) = send(
        state,
        request(Method::GET, "/admin/tenants/default/upstream", None),
    )
    .await?;
    ensure!(code == 200, "GET upstream: {code} {body}");
    Ok(body)
}

/// Waits until the replica follows with nothing left to apply and `path` reads (at most
/// `limit`).
async fn caught_up(state: SocketAddr, path: &str, limit: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let s = setting(state).await?;
        if s["phase"] == "follow" && s["lag"]["events"] == 0 {
            let (code, _) = send(state, request(Method::GET, path, None)).await?;
            if code == 200 {
                return Ok(());
            }
        }
        ensure!(start.elapsed() < limit, "the replica did not catch up: {s}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn main(a: ReplicaArgs) -> anyhow::Result<()> {
    let fhirdir = crate::fhirdir_binary(a.fhirdir.clone())?;
    println!("{}", crate::report::machine_facts());
    let (_data, files) = crate::child::generate(&fhirdir, a.size).await?;
    for backend in a.backend.names() {
        let (n_dir, s_dir) = (tempfile::tempdir()?, tempfile::tempdir()?);
        let (national_db, n_pg) =
            crate::child::fresh_database(backend, n_dir.path(), &a.postgres_url).await?;
        let (state_db, s_pg) =
            crate::child::fresh_database(backend, s_dir.path(), &a.postgres_url).await?;
        let result = async {
            let mut import = Command::new(&fhirdir);
            import.args(["import", "--tenant", "default", "--database", &national_db]);
            import.args(&files);
            run(&mut import, "fhirdir import").await?;
            run_backend(backend, &fhirdir, &national_db, &state_db, &a, n_dir.path()).await
        }
        .await;
        for db in [n_pg, s_pg].into_iter().flatten() {
            db.drop_now().await?;
        }
        result?;
    }
    Ok(())
}

async fn run_backend(
    backend: &str,
    fhirdir: &Path,
    national_db: &str,
    state_db: &str,
    a: &ReplicaArgs,
    logs: &Path,
) -> anyhow::Result<()> {
    let national = Server::start(
        serve(fhirdir, national_db, "127.0.0.1:0"),
        Some(&logs.join("national.log")),
    )
    .await?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let listen = format!("127.0.0.1:{port}");
    let state_log = logs.join("state.log");
    let state = Server::start(serve(fhirdir, state_db, &listen), Some(&state_log)).await?;
    let (n, s) = (national.addr, state.addr);
    // Seed.
    let start = Instant::now();
    let body = json!({"url": format!("http://{n}{BASE}")});
    let (code, shown) = send(
        s,
        request(Method::PUT, "/admin/tenants/default/upstream", Some(&body)),
    )
    .await?;
    ensure!(code == 200, "PUT upstream: {code} {shown}");
    let (_, any) = send(
        n,
        request(Method::GET, "/fhir/default/Practitioner?_count=1", None),
    )
    .await?;
    let probe = any["entry"][0]["resource"]["id"]
        .as_str()
        .map(|id| format!("{BASE}/Practitioner/{id}"))
        .context("the national has Practitioners")?;
    caught_up(s, &probe, Duration::from_secs(3600)).await?;
    let seconds = start.elapsed().as_secs_f64();
    let copied = count_all(s).await?;
    println!(
        "| {backend} | seed, {copied} resources | {seconds:.1} s | {:.0} resources/s |",
        copied as f64 / seconds
    );

    // Follow latency.
    let mut ms = Vec::with_capacity(a.writes);
    for i in 0..a.writes {
        let id = format!("lat-{i}");
        let p = json!({"resourceType": "Practitioner", "id": id, "name": [{"family": "Latency"}]});
        let path = format!("{BASE}/Practitioner/{id}");
        let (code, body) = send(n, request(Method::PUT, &path, Some(&p))).await?;
        ensure!(code == 201, "PUT {path}: {code} {body}");
        let committed = Instant::now();
        loop {
            let (code, _) = send(s, request(Method::GET, &path, None)).await?;
            if code == 200 {
                ms.push(committed.elapsed().as_secs_f64() * 1000.0);
                break;
            }
            ensure!(
                committed.elapsed() < Duration::from_secs(10),
                "{path} never arrived"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    ms.sort_by(f64::total_cmp);
    println!(
        "| {backend} | follow latency, {} writes | p50 {:.0} ms | p95 {:.0} ms |",
        ms.len(),
        percentile(&ms, 50.0),
        percentile(&ms, 95.0)
    );

    // Catch-up after downtime.
    state.stop().await?;
    let mut written = 0;
    while written < a.changes {
        let entries: Vec<Value> = (written..(written + 100).min(a.changes))
            .map(|i| {
                let id = format!("cu-{i}");
                json!({"resource": {"resourceType": "Practitioner", "id": id, "name": [{"family": "CatchUp"}]},
                       "request": {"method": "PUT", "url": format!("Practitioner/{id}")}})
            })
            .collect();
        written += entries.len();
        let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": entries});
        let (code, body) = send(n, request(Method::POST, BASE, Some(&bundle))).await?;
        ensure!(code == 200, "transaction: {code} {body}");
    }
    let start = Instant::now();
    let state = Server::start(serve(fhirdir, state_db, &listen), Some(&state_log)).await?;
    let last = format!("{BASE}/Practitioner/cu-{}", a.changes - 1);
    caught_up(state.addr, &last, Duration::from_secs(3600)).await?;
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "| {backend} | catch-up after downtime, {} changes | {seconds:.1} s | {:.0} changes/s |",
        a.changes,
        a.changes as f64 / seconds
    );
    state.stop().await?;
    national.stop().await?;
    Ok(())
}

/// Resources of every directory type on the server at `addr`.
async fn count_all(addr: SocketAddr) -> anyhow::Result<u64> {
    let mut total = 0;
    for t in ::subscriptions::topics::DIRECTORY_TYPES {
        let (_, body) = send(
            addr,
            request(Method::GET, &format!("{BASE}/{t}?_summary=count"), None),
        )
        .await?;
        total += body["total"].as_u64().unwrap_or(0);
    }
    Ok(total)
}
