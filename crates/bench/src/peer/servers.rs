//! Starting the two servers of a pair on fresh databases and loading the sample into each:
//! fhirdir by `fhirdir import` (its bulk path), HFS by `PUT [type]/[id]` of every resource
//! (HFS 0.2.7 has no bulk import; PUT keeps the sample's ids, which the shapes use).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use bytes::Bytes;
use http::{header, Method, Request};
use http_body_util::Full;
use sqlx::{Connection, Executor, PgConnection};
use tokio::process::Command;

use super::data::Resource;
use crate::child::{PgDatabase, Server};
use crate::load::{self, Stop};

/// A server under test: where it answers, its FHIR base path, and its process.
pub struct Running {
    pub name: &'static str,
    pub addr: SocketAddr,
    /// Prefix of every FHIR path (`/fhir/default` for fhirdir, empty for HFS).
    pub base: &'static str,
    pub pid: Option<u32>,
    process: Process,
}

enum Process {
    Fhirdir(Server),
    Hfs(tokio::process::Child),
}

impl Running {
    pub async fn stop(self) -> anyhow::Result<()> {
        match self.process {
            Process::Fhirdir(s) => s.stop().await,
            Process::Hfs(mut c) => {
                c.kill().await?;
                Ok(())
            }
        }
    }
}

/// `fhirdir import` of `files` into `database`, then `fhirdir serve` on it with its defaults
/// (authorization on; anonymous callers read, as a public Plan-Net directory).
pub async fn fhirdir(
    exe: &Path,
    database: &str,
    files: &[PathBuf],
    logs: &Path,
) -> anyhow::Result<Running> {
    let out = Command::new(exe)
        .args(["import", "--tenant", "default", "--database", database])
        .args(files)
        .env("FHIRDIR_LOG", "warn")
        .output()
        .await?;
    ensure!(
        out.status.success(),
        "fhirdir import: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut cmd = Command::new(exe);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--database", database])
        .env("FHIRDIR_LOG", "warn");
    let server = Server::start(cmd, Some(&logs.join("fhirdir.log"))).await?;
    Ok(Running {
        name: "fhirdir",
        addr: server.addr,
        base: "/fhir/default",
        pid: server.pid(),
        process: Process::Fhirdir(server),
    })
}

/// HFS on `backend` ("sqlite": a file in `dir`; "postgres": `pg`), its data folder holding
/// the R4 search parameters as `search-parameters-r4.json`, then the sample PUT into it.
pub async fn hfs(
    exe: &Path,
    backend: &str,
    pg: Option<&PgDatabase>,
    search_parameters: &Path,
    dir: &Path,
    data: &[Resource],
) -> anyhow::Result<Running> {
    let data_dir = dir.join("hfs-data");
    std::fs::create_dir_all(&data_dir)?;
    std::fs::copy(
        search_parameters,
        data_dir.join("search-parameters-r4.json"),
    )
    .with_context(|| format!("copying {}", search_parameters.display()))?;
    let port = free_port()?;
    let database = match pg {
        Some(db) => db.url.clone(),
        None => dir.join("hfs.db").display().to_string(),
    };
    let mut cmd = Command::new(exe);
    cmd.args(["--port", &port.to_string(), "--log-level", "warn"])
        .args(["--storage-backend", backend, "--database-url", &database])
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["--base-url", &format!("http://127.0.0.1:{port}")])
        .current_dir(dir)
        .stdout(std::fs::File::create(dir.join("hfs.out"))?)
        .stderr(std::fs::File::create(dir.join("hfs.log"))?)
        .kill_on_drop(true);
    let child = cmd.spawn().with_context(|| format!("starting {cmd:?}"))?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let running = Running {
        name: "HFS",
        addr,
        base: "",
        pid: child.id(),
        process: Process::Hfs(child),
    };
    wait_ready(addr, dir).await?;
    put_all(addr, data).await?;
    Ok(running)
}

/// PUTs every resource, 4 connections at a time; any refusal fails the run.
async fn put_all(addr: SocketAddr, data: &[Resource]) -> anyhow::Result<()> {
    let bodies: Arc<Vec<(String, Bytes)>> = Arc::new(
        data.iter()
            .map(|r| (format!("/{}/{}", r.resource_type, r.id), r.body.clone()))
            .collect(),
    );
    let n = bodies.len() as u64;
    let started = Instant::now();
    let make: load::MakeRequest = Arc::new(move |seq| {
        let (path, body) = &bodies[(seq % n) as usize];
        Request::builder()
            .method(Method::PUT)
            .uri(path)
            .header(header::HOST, "127.0.0.1")
            .header(header::CONTENT_TYPE, "application/fhir+json")
            .body(Full::new(body.clone()))
            .unwrap_or_default()
    });
    let o = load::run(addr, 4, Stop::Count(n), make).await?;
    if o.errors > 0 {
        bail!(
            "loading HFS: {} of {n} PUTs failed (first: {})",
            o.errors,
            o.first_error.unwrap_or_default()
        );
    }
    println!(
        "HFS: {n} resources PUT in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Waits (up to 120 s) until `GET /metadata` answers 200.
async fn wait_ready(addr: SocketAddr, dir: &Path) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let req = Request::builder()
            .uri("/metadata")
            .header(header::HOST, "127.0.0.1")
            .body(Full::new(Bytes::new()))?;
        if let Ok((200, _)) = crate::transaction::send(addr, req).await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = std::fs::read_to_string(dir.join("hfs.log")).unwrap_or_default();
    bail!("HFS did not answer /metadata on {addr} within 120 s; its log:\n{log}")
}

/// A port free right now (HFS takes no port 0).
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `ANALYZE` of a Postgres database, so both servers' planners have statistics (what
/// autovacuum would give a loaded database after a while).
pub async fn analyze(url: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(url).await?;
    conn.execute("ANALYZE").await?;
    Ok(())
}
