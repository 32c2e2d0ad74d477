//! Servers under test run as child processes, so the load generator and the server are
//! separate processes (as in production). A child announces its address with a
//! `... listening on http://ADDR ...` line on stdout. Also: the throw-away Postgres database.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use sqlx::{Connection, Executor, PgConnection};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running server child process.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
}

impl Server {
    /// Starts `cmd` and waits (up to 120 s: migrations run first) for its listening line.
    /// stderr goes to `log` when given.
    pub async fn start(mut cmd: Command, log: Option<&Path>) -> anyhow::Result<Server> {
        cmd.stdout(Stdio::piped()).kill_on_drop(true);
        match log {
            Some(path) => cmd.stderr(std::fs::File::create(path)?),
            None => cmd.stderr(Stdio::inherit()),
        };
        let mut child = cmd.spawn().with_context(|| format!("starting {cmd:?}"))?;
        let stdout = child.stdout.take().context("child stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let found = tokio::time::timeout(Duration::from_secs(120), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(addr) = listening_addr(&line) {
                    return anyhow::Ok(Some(addr));
                }
            }
            Ok(None)
        })
        .await;
        let addr = match found {
            Ok(Ok(Some(addr))) => addr,
            other => {
                let _ = child.kill().await;
                let tail = log
                    .and_then(|p| std::fs::read_to_string(p).ok())
                    .unwrap_or_default();
                bail!("{cmd:?} did not announce its address ({other:?}); stderr:\n{tail}");
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Server { child, addr })
    }

    /// The child's process id (while it runs).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Asks the child to shut down gracefully (SIGTERM), killing it after 10 s.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            self.child.kill().await?;
        }
        Ok(())
    }
}

/// CPU seconds (user + system) used by process `pid`, from `/proc/PID/stat` (Linux; clock
/// ticks of 1/100 s, the `CLK_TCK` of every mainstream Linux build).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// The 1-minute load average (other work on the machine shows up here).
pub fn load1() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// The address in a `... listening on http://ADDR ...` line.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    let rest = line.split_once("listening on http://")?.1;
    rest.split(|c: char| c.is_whitespace() || c == '/')
        .next()?
        .parse()
        .ok()
}

/// A fresh Postgres database, dropped by [`PgDatabase::drop_now`].
pub struct PgDatabase {
    admin_url: String,
    name: String,
    /// Connection URL of the new database.
    pub url: String,
}

impl PgDatabase {
    /// `CREATE DATABASE fhirdir_bench_<pid>_<n>` through `admin_url` (`n` counts this
    /// process's databases: a run may hold several at once).
    pub async fn create(admin_url: &str) -> anyhow::Result<PgDatabase> {
        static MADE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("fhirdir_bench_{}_{n}", std::process::id());
        let mut conn = PgConnection::connect(admin_url)
            .await
            .with_context(|| format!("connecting to {admin_url}"))?;
        conn.execute(format!("DROP DATABASE IF EXISTS {name}").as_str())
            .await?;
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await?;
        let (base, query) = match admin_url.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (admin_url, String::new()),
        };
        let prefix = base.rsplit_once('/').map_or(base, |(p, _)| p);
        Ok(PgDatabase {
            admin_url: admin_url.to_owned(),
            url: format!("{prefix}/{name}{query}"),
            name,
        })
    }

    /// `DROP DATABASE ... WITH (FORCE)`.
    pub async fn drop_now(self) -> anyhow::Result<()> {
        let mut conn = PgConnection::connect(&self.admin_url).await?;
        conn.execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str())
            .await?;
        Ok(())
    }
}

/// `fhirdir generate --size SIZE --seed 1` into a temporary folder: the folder (removed when
/// dropped) and its NDJSON files in order.
pub async fn generate(
    fhirdir: &Path,
    size: u64,
) -> anyhow::Result<(tempfile::TempDir, Vec<std::path::PathBuf>)> {
    let dir = tempfile::tempdir()?;
    let out = Command::new(fhirdir)
        .args([
            "generate",
            "--size",
            &size.to_string(),
            "--seed",
            "1",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .await?;
    anyhow::ensure!(
        out.status.success(),
        "fhirdir generate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir.path())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    Ok((dir, files))
}

/// A fresh database for `backend` ("sqlite": a file in `dir`; else a throw-away Postgres
/// database made through `postgres_url`, to drop after the run): its URL, and the Postgres
/// database to drop.
pub async fn fresh_database(
    backend: &str,
    dir: &Path,
    postgres_url: &str,
) -> anyhow::Result<(String, Option<PgDatabase>)> {
    Ok(match backend {
        "sqlite" => (format!("sqlite://{}", dir.join("bench.db").display()), None),
        _ => {
            let db = PgDatabase::create(postgres_url).await?;
            (db.url.clone(), Some(db))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listening_lines() {
        let l = "fhirdir listening on http://127.0.0.1:4321 (FHIR base http://127.0.0.1:4321/fhir/default, sqlite backend)";
        assert_eq!(listening_addr(l), "127.0.0.1:4321".parse().ok());
        assert_eq!(
            listening_addr("ceiling listening on http://127.0.0.1:9"),
            "127.0.0.1:9".parse().ok()
        );
        assert_eq!(listening_addr("starting"), None);
        assert!(cpu_seconds(std::process::id()).is_some());
    }
}
