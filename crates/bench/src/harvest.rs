//! `fhirdir-bench harvest`: a harvest from a payer's API against `fhirdir import` of the same
//! data (issue 21).
//!
//! The data is `fhirdir generate --size N` (every directory type). The payer is a static
//! server in this process on loopback serving that data as searchset pages of `--pages` sizes
//! (pre-built in memory, so the payer costs next to nothing and the harvester is what is
//! measured), with `next` links, and a CapabilityStatement without `_lastUpdated` (a full
//! pass). Per backend and page size, on a fresh database:
//!
//! - **import**: `fhirdir import` of the generated files into the fresh database (its own
//!   resources/s line; into empty search tables it drops their indexes and builds them once at
//!   the end, which a harvest into a running server cannot);
//! - **harvest**: a real `fhirdir serve` child (outbound requests allowed to loopback) with a
//!   harvest source for the payer (`page_size` = the page size), one pass started with
//!   `$run`, timed from the request until the source's state says `ok`: resources seen per
//!   second, and the ratio to the import of the same run.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use bytes::Bytes;
use http::{header, Method, Request};
use http_body_util::Full;
use serde_json::{json, Value};
use tokio::process::Command;

use crate::child::Server;
use crate::transaction::send;
use crate::Backend;

const ADMIN: &str = "bench-admin";

/// The types a Plan-Net harvest reads (a source's default).
const TYPES: &[&str] = services::harvest::setting::DIRECTORY_TYPES;

/// `fhirdir-bench harvest` arguments.
#[derive(clap::Args, Debug)]
pub struct HarvestArgs {
    #[arg(long, value_enum, default_value = "both")]
    backend: Backend,
    /// Size of the generated directory (`fhirdir generate --size`).
    #[arg(long, default_value_t = 100_000)]
    size: u64,
    /// Page sizes the payer serves (one harvest each), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "100,1000")]
    pages: Vec<usize>,
    #[arg(long)]
    fhirdir: Option<PathBuf>,
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_url: String,
}

/// The payer's pages: (type, page size) → pages in order.
type Pages = BTreeMap<(String, usize), Vec<Bytes>>;

/// Reads the generated NDJSON files into resources by type.
fn resources(files: &[PathBuf]) -> anyhow::Result<BTreeMap<String, Vec<Value>>> {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for f in files {
        let text = std::fs::read_to_string(f).with_context(|| f.display().to_string())?;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let r: Value = serde_json::from_str(line)?;
            let t = r["resourceType"].as_str().unwrap_or_default().to_owned();
            if TYPES.contains(&t.as_str()) {
                out.entry(t).or_default().push(r);
            }
        }
    }
    Ok(out)
}

/// Builds every page of every type for each page size, linking each to the next.
fn build_pages(
    addr: SocketAddr,
    data: &BTreeMap<String, Vec<Value>>,
    sizes: &[usize],
) -> anyhow::Result<Pages> {
    let mut pages = Pages::new();
    for &size in sizes {
        for (t, list) in data {
            let chunks: Vec<&[Value]> = list.chunks(size).collect();
            let n = chunks.len();
            let mut built = Vec::with_capacity(n);
            for (i, chunk) in chunks.into_iter().enumerate() {
                let entries: Vec<Value> = chunk
                    .iter()
                    .map(|r| json!({"resource": r, "search": {"mode": "match"}}))
                    .collect();
                let mut b =
                    json!({"resourceType": "Bundle", "type": "searchset", "entry": entries});
                if i + 1 < n {
                    b["link"] = json!([{"relation": "next",
                        "url": format!("http://{addr}/fhir/{t}?_count={size}&page={}", i + 1)}]);
                }
                built.push(Bytes::from(serde_json::to_vec(&b)?));
            }
            pages.insert((t.clone(), size), built);
        }
    }
    Ok(pages)
}

async fn page(
    State(pages): State<Arc<Pages>>,
    axum::extract::Path(t): axum::extract::Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> axum::response::Response {
    if t == "metadata" {
        let cs = json!({"resourceType": "CapabilityStatement", "status": "active", "kind": "instance",
                        "fhirVersion": "4.0.1", "format": ["json"], "rest": [{"mode": "server"}]});
        return (
            [(header::CONTENT_TYPE, "application/fhir+json")],
            cs.to_string(),
        )
            .into_response();
    }
    let size: usize = q.get("_count").and_then(|c| c.parse().ok()).unwrap_or(0);
    let index: usize = q.get("page").and_then(|c| c.parse().ok()).unwrap_or(0);
    let empty = || Bytes::from_static(br#"{"resourceType":"Bundle","type":"searchset"}"#);
    let body = pages
        .get(&(t, size))
        .map_or_else(empty, |list| list.get(index).cloned().unwrap_or_else(empty));
    ([(header::CONTENT_TYPE, "application/fhir+json")], body).into_response()
}

fn admin_request(
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> anyhow::Result<Request<Full<Bytes>>> {
    let bytes = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
    Ok(Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "127.0.0.1")
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(bytes))?)
}

fn serve(fhirdir: &Path, database: &str) -> Command {
    let mut cmd = Command::new(fhirdir);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--database", database]);
    cmd.env("FHIRDIR_AUTH", "off");
    cmd.env("FHIRDIR_OUTBOUND_ALLOW", "127.0.0.1");
    cmd.env("FHIRDIR_ADMIN_TOKEN", ADMIN);
    cmd.env("FHIRDIR_LOG", "warn");
    cmd
}

/// `imported N resources in S s (R resources/s)` → R.
fn import_rate(stdout: &str) -> Option<f64> {
    let inner = stdout.rsplit('(').next()?;
    inner.split_whitespace().next()?.parse().ok()
}

pub async fn main(a: HarvestArgs) -> anyhow::Result<()> {
    let fhirdir = crate::fhirdir_binary(a.fhirdir.clone())?;
    println!("{}", crate::report::machine_facts());
    let (_data_dir, files) = crate::child::generate(&fhirdir, a.size).await?;
    let data = resources(&files)?;
    let total: usize = data.values().map(Vec::len).sum();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let pages = Arc::new(build_pages(addr, &data, &a.pages)?);
    let router = axum::Router::new()
        .route("/fhir/{t}", axum::routing::get(page))
        .with_state(pages);
    tokio::spawn(async move { axum::serve(listener, router).await });
    println!(
        "payer: {total} resources of {} types at http://{addr}/fhir\n",
        data.len()
    );
    println!("| backend | page size | import | harvest | harvest / import |");
    println!("|---|---:|---:|---:|---:|");
    for backend in a.backend.names() {
        for &size in &a.pages {
            let (import_dir, harvest_dir) = (tempfile::tempdir()?, tempfile::tempdir()?);
            let (import_db, i_pg) =
                crate::child::fresh_database(backend, import_dir.path(), &a.postgres_url).await?;
            let (harvest_db, h_pg) =
                crate::child::fresh_database(backend, harvest_dir.path(), &a.postgres_url).await?;
            let result = async {
                let fresh = import(&fhirdir, &import_db, &files).await?;
                let harvest = harvest_once(&fhirdir, &harvest_db, addr, size, harvest_dir.path()).await?;
                println!(
                    "| {backend} | {size} | {fresh:.0} resources/s | {harvest:.0} resources/s | {:.2} |",
                    harvest / fresh
                );
                anyhow::Ok(())
            }
            .await;
            for db in [i_pg, h_pg].into_iter().flatten() {
                db.drop_now().await?;
            }
            result?;
        }
    }
    Ok(())
}

/// `fhirdir import` of `files`; its resources/s.
async fn import(fhirdir: &Path, database: &str, files: &[PathBuf]) -> anyhow::Result<f64> {
    let mut cmd = Command::new(fhirdir);
    cmd.args(["import", "--tenant", "default", "--database", database]);
    let out = cmd.args(files).env("FHIRDIR_LOG", "warn").output().await?;
    ensure!(
        out.status.success(),
        "fhirdir import: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    import_rate(&String::from_utf8_lossy(&out.stdout)).context("the import's rate line")
}

/// One full pass of the payer into a fresh server; answers resources seen per second.
async fn harvest_once(
    fhirdir: &Path,
    database: &str,
    payer: SocketAddr,
    size: usize,
    logs: &Path,
) -> anyhow::Result<f64> {
    let server = Server::start(serve(fhirdir, database), Some(&logs.join("serve.log"))).await?;
    let s = server.addr;
    let source = json!({"url": format!("http://{payer}/fhir"), "kind": "harvest",
                        "types": TYPES, "page_size": size});
    let path = "/admin/tenants/default/sources/payer";
    let (code, body) = send(s, admin_request(Method::PUT, path, Some(&source))?).await?;
    ensure!(code == 200, "PUT source: {code} {body}");
    let start = Instant::now();
    let (code, body) = send(
        s,
        admin_request(Method::POST, &format!("{path}/$run"), None)?,
    )
    .await?;
    ensure!(code == 202, "$run: {code} {body}");
    let state = loop {
        let (_, state) = send(s, admin_request(Method::GET, path, None)?).await?;
        let status = state["last_run"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if status == "ok" || status == "error" {
            break state;
        }
        ensure!(
            start.elapsed() < Duration::from_secs(7200),
            "the pass did not end: {state}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let seconds = start.elapsed().as_secs_f64();
    ensure!(
        state["last_run"]["status"] == "ok",
        "the pass failed: {state}"
    );
    let seen = state["counts"]["seen"].as_f64().unwrap_or(0.0);
    server.stop().await?;
    Ok(seen / seconds)
}
