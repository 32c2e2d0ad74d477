//! `fhirdir-bench rest`: per backend, start the real `fhirdir serve` on a fresh database,
//! create N Practitioners with PUT (known ids), read random ids for D seconds, create more
//! with POST for D seconds; then start the ceiling (twice: bare, and wrapped in fhirdir's
//! middleware) and put it under the identical read load.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use http::{header, Method, Request};
use http_body_util::Full;
use tokio::process::Command;

use crate::child::{self, PgDatabase, Server};
use crate::load::{self, MakeRequest, Outcome, Stop};
use crate::practitioner;
use crate::report::{self, Summary};

/// Options shared by every backend's run.
pub struct RestOptions {
    pub resources: u64,
    pub duration: Duration,
    pub warmup: Duration,
    pub connections: usize,
    pub fhirdir: PathBuf,
    pub postgres_url: String,
    /// SQLite only: keep the database in this file; when it exists, skip the PUT phase.
    pub reuse_sqlite: Option<PathBuf>,
    /// Alternating read rounds (fhirdir, ceiling, ceiling + middleware).
    pub rounds: usize,
}

/// A finished backend run.
pub struct BackendResult {
    pub backend: String,
    pub put: Outcome,
    pub post: Outcome,
    pub read: Outcome,
    pub ceiling: Outcome,
    pub ceiling_mw: Outcome,
}

const BASE: &str = "/fhir/default/Practitioner";

fn fhir_request(method: Method, path: &str, body: Bytes) -> Request<Full<Bytes>> {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "127.0.0.1")
        .header(header::ACCEPT, "application/fhir+json");
    if !body.is_empty() {
        b = b.header(header::CONTENT_TYPE, "application/fhir+json");
    }
    b.body(Full::new(body)).unwrap_or_default()
}

/// GETs of random ids among the `n` created ones.
pub fn read_load(n: u64) -> MakeRequest {
    Arc::new(move |seq| {
        let path = format!("{BASE}/{}", practitioner::id(seq % n));
        fhir_request(Method::GET, &path, Bytes::new())
    })
}

fn body(i: u64, id: Option<&str>) -> Bytes {
    Bytes::from(serde_json::to_vec(&practitioner::practitioner(i, id)).unwrap_or_default())
}

/// Fails (making the run invalid) when any request failed.
fn check(what: &str, o: &Outcome) -> anyhow::Result<()> {
    if o.errors > 0 {
        bail!(
            "{what}: {} errors (first: {}); the run is invalid",
            o.errors,
            o.first_error.as_deref().unwrap_or("?")
        );
    }
    Ok(())
}

/// Prints one detail row at once (long runs show progress) and checks it.
fn show(backend: &str, what: &str, o: &Outcome) -> anyhow::Result<()> {
    println!("{}", report::detail_row(backend, what, o));
    check(what, o)
}

/// One GET on a fresh connection: the exact bytes fhirdir serves at `path`.
async fn fetch(addr: std::net::SocketAddr, path: &str) -> anyhow::Result<Bytes> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let resp = sender
        .send_request(fhir_request(Method::GET, path, Bytes::new()))
        .await?;
    let status = resp.status();
    let bytes = http_body_util::BodyExt::collect(resp.into_body())
        .await?
        .to_bytes();
    if !status.is_success() {
        bail!("GET {path}: {status}");
    }
    Ok(bytes)
}

/// Runs every phase against one backend (`sqlite` or `postgres`).
pub async fn run_backend(backend: &str, opts: &RestOptions) -> anyhow::Result<BackendResult> {
    let dir = tempfile::tempdir()?;
    let mut pg = None;
    let mut skip_put = false;
    let database = match backend {
        "sqlite" => {
            let file = match &opts.reuse_sqlite {
                Some(f) => {
                    skip_put = f.exists();
                    f.clone()
                }
                None => dir.path().join("bench.db"),
            };
            format!("sqlite://{}", file.display())
        }
        "postgres" => {
            let db = PgDatabase::create(&opts.postgres_url).await?;
            let url = db.url.clone();
            pg = Some(db);
            url
        }
        other => bail!("unknown backend {other:?}"),
    };
    let log = dir.path().join("fhirdir.log");
    let mut cmd = Command::new(&opts.fhirdir);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--database", &database]);
    // Writes without tokens; an older binary ignores the variable.
    cmd.env("FHIRDIR_AUTH", "off");
    let result = run_phases(backend, opts, cmd, &log, skip_put).await;
    if let Some(db) = pg {
        db.drop_now().await?;
    }
    if result.is_err() {
        eprintln!(
            "fhirdir stderr (tail):\n{}",
            tail(&std::fs::read_to_string(&log).unwrap_or_default(), 20)
        );
    }
    result
}

fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

/// Runs a load against `addr`, recording the CPU process `pid` (the server) and this
/// process (the load generator) used meanwhile.
pub async fn measure(
    pid: Option<u32>,
    addr: SocketAddr,
    c: usize,
    stop: Stop,
    make: MakeRequest,
) -> anyhow::Result<Outcome> {
    let me = std::process::id();
    let (before, me_before) = (pid.and_then(child::cpu_seconds), child::cpu_seconds(me));
    let mut o = load::run(addr, c, stop, make).await?;
    let (after, me_after) = (pid.and_then(child::cpu_seconds), child::cpu_seconds(me));
    o.server_cpu = before.zip(after).map(|(b, a)| a - b);
    o.client_cpu = me_before.zip(me_after).map(|(b, a)| a - b);
    Ok(o)
}

/// Starts `fhirdir-bench ceiling` serving `body_file`, bare or with fhirdir's middleware.
async fn start_ceiling(body_file: &Path, middleware: bool) -> anyhow::Result<Server> {
    let exe = std::env::current_exe().context("locating fhirdir-bench")?;
    let mut cmd = Command::new(exe);
    cmd.args(["ceiling", "--listen", "127.0.0.1:0", "--body"])
        .arg(body_file);
    if middleware {
        cmd.arg("--middleware");
    }
    Server::start(cmd, None).await
}

/// One backend's phases. The read load alternates between fhirdir and the two ceilings
/// `rounds` times (all three servers stay up), so a burst of other work on the machine hits
/// both sides of the ratio; the summary keeps the round with the median ratio.
async fn run_phases(
    backend: &str,
    opts: &RestOptions,
    cmd: Command,
    log: &Path,
    skip_put: bool,
) -> anyhow::Result<BackendResult> {
    let (n, c) = (opts.resources, opts.connections);
    let timed = Stop::Timed {
        warmup: opts.warmup,
        measure: opts.duration,
    };
    let server = Server::start(cmd, Some(log)).await?;
    let (addr, pid) = (server.addr, server.pid());
    eprintln!("{backend}: fhirdir on {addr}; PUT {n} Practitioners with {c} connections");

    let put_make: MakeRequest = Arc::new(|i| {
        let id = practitioner::id(i);
        let path = format!("{BASE}/{id}");
        fhir_request(Method::PUT, &path, body(i, Some(&id)))
    });
    let count = Stop::Count(if skip_put { 0 } else { n });
    let put = measure(pid, addr, c, count, put_make).await?;
    if skip_put {
        println!("| {backend} | create: skipped (--reuse-sqlite file exists) | | | | | | | | |");
    } else {
        show(backend, &format!("create: PUT {n} (new ids)"), &put)?;
    }

    let sample = fetch(addr, &format!("{BASE}/{}", practitioner::id(0))).await?;
    let body_file = log.with_file_name("sample.json");
    std::fs::write(&body_file, &sample)?;
    let bare = start_ceiling(&body_file, false).await?;
    let mw = start_ceiling(&body_file, true).await?;
    let mut rounds = Vec::new();
    for r in 1..=opts.rounds.max(1) {
        let read = measure(pid, addr, c, timed, read_load(n)).await?;
        show(backend, &format!("read: GET random id (round {r})"), &read)?;
        let ceiling = measure(bare.pid(), bare.addr, c, timed, read_load(n)).await?;
        show(
            backend,
            &format!("ceiling: bare axum, bytes from memory (round {r})"),
            &ceiling,
        )?;
        let ceiling_mw = measure(mw.pid(), mw.addr, c, timed, read_load(n)).await?;
        show(
            backend,
            &format!("ceiling + fhirdir middleware (round {r})"),
            &ceiling_mw,
        )?;
        rounds.push((read, ceiling, ceiling_mw));
    }
    bare.stop().await?;
    mw.stop().await?;
    rounds.sort_by(|a, b| (a.0.rps() / a.1.rps()).total_cmp(&(b.0.rps() / b.1.rps())));
    let (read, ceiling, ceiling_mw) = rounds.swap_remove(rounds.len() / 2);

    let post_make: MakeRequest =
        Arc::new(move |seq| fhir_request(Method::POST, BASE, body(n + seq % n, None)));
    let post = measure(pid, addr, c, timed, post_make).await?;
    show(backend, "create: POST (timed)", &post)?;
    server.stop().await?;
    Ok(BackendResult {
        backend: backend.to_owned(),
        put,
        post,
        read,
        ceiling,
        ceiling_mw,
    })
}

/// The summary table of all backends.
pub fn summary(results: &[BackendResult], resources: u64) -> String {
    let mut out = format!("{}\n", report::SUMMARY_HEADER);
    for r in results {
        let s = Summary {
            backend: &r.backend,
            resources,
            put: &r.put,
            post: &r.post,
            read: &r.read,
            ceiling: &r.ceiling,
            ceiling_mw: &r.ceiling_mw,
        };
        out.push_str(&s.row());
        out.push('\n');
    }
    out
}
