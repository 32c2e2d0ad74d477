//! `fhirdir-bench export`: Bulk Data `$export` of an imported tenant (issue 18).
//!
//! Starts `fhirdir serve --auth off` on `--database` (already imported with `fhirdir import`),
//! then, for each round: kicks off `[base]/$export`, polls the status URL every 20 ms until
//! the manifest, and reports resources/s (resources in the manifest over the time from
//! kick-off to manifest) and the server's peak RSS (`VmHWM`); then the raw copy of the same
//! rows to a file by the database's own client, the reference the goal compares with:
//! `psql -c "\copy (SELECT content FROM resources WHERE ...) TO FILE"` on Postgres, `sqlite3`
//! with `SELECT content ...` on SQLite. Files go to a temporary folder removed at the end.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::child::Server;

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The database, already imported: sqlite://PATH or postgres://...
    #[arg(long)]
    database: String,
    /// The tenant to export.
    #[arg(long, default_value = "default")]
    tenant: String,
    /// Rounds (export, then raw copy, each round).
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// The fhirdir binary (default: `fhirdir` next to this executable).
    #[arg(long)]
    fhirdir: Option<PathBuf>,
    /// Label of the table rows.
    #[arg(long, default_value = "")]
    label: String,
}

pub async fn main(a: ExportArgs) -> anyhow::Result<()> {
    let fhirdir = crate::fhirdir_binary(a.fhirdir.clone())?;
    let work = tempfile::tempdir()?;
    let log = work.path().join("server.log");
    let exports = work.path().join("exports");
    let mut cmd = tokio::process::Command::new(&fhirdir);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--auth", "off"])
        .arg("--database")
        .arg(&a.database)
        .arg("--export-dir")
        .arg(&exports)
        .env("FHIRDIR_LOG", "warn");
    let server = Server::start(cmd, Some(&log)).await?;
    let pid = server.pid().context("server pid")?;
    let base = format!("http://{}/fhir/{}", server.addr, a.tenant);
    let client = reqwest::Client::new();
    println!("{}", crate::report::machine_facts());
    println!(
        "| run | what | resources | seconds | resources/s | MB written | server peak RSS MiB |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    let mut ratios = Vec::new();
    for round in 1..=a.rounds {
        let (n, secs, bytes) = export_once(&client, &base).await?;
        let rss = peak_rss_mib(pid);
        println!(
            "| {} {round} | `$export` | {n} | {secs:.1} | {:.0} | {:.0} | {rss} |",
            a.label,
            n as f64 / secs,
            bytes as f64 / 1e6
        );
        let out = work.path().join("copy.ndjson");
        let (rows, copy_secs) = raw_copy(&a.database, &a.tenant, &out).await?;
        let copy_bytes = std::fs::metadata(&out).map_or(0, |m| m.len());
        std::fs::remove_file(&out).ok();
        println!(
            "| {} {round} | raw copy | {rows} | {copy_secs:.1} | {:.0} | {:.0} | |",
            a.label,
            rows as f64 / copy_secs,
            copy_bytes as f64 / 1e6
        );
        ratios.push((n as f64 / secs) / (rows as f64 / copy_secs));
    }
    let text: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
    println!(
        "\n{}: `$export` rate / raw copy rate per round: {}",
        a.label,
        text.join(", ")
    );
    server.stop().await?;
    Ok(())
}

/// One export to completion: (resources, seconds, bytes of the files, from `HEAD` on their
/// URLs); the job is deleted after.
async fn export_once(client: &reqwest::Client, base: &str) -> anyhow::Result<(u64, f64, u64)> {
    let started = Instant::now();
    let resp = client
        .get(format!("{base}/$export"))
        .header("Accept", "application/fhir+json")
        .header("Prefer", "respond-async")
        .send()
        .await?;
    if resp.status() != 202 {
        bail!("kick-off: {} {}", resp.status(), resp.text().await?);
    }
    let status = resp
        .headers()
        .get("content-location")
        .context("no Content-Location")?
        .to_str()?
        .to_owned();
    let manifest: serde_json::Value = loop {
        let resp = client.get(&status).send().await?;
        match resp.status().as_u16() {
            202 => tokio::time::sleep(Duration::from_millis(20)).await,
            200 => break resp.json().await?,
            other => bail!("status: {other} {}", resp.text().await?),
        }
    };
    let secs = started.elapsed().as_secs_f64();
    let mut n = 0;
    let mut bytes = 0;
    for item in manifest["output"].as_array().into_iter().flatten() {
        n += item["count"].as_u64().unwrap_or(0);
        let url = item["url"].as_str().unwrap_or_default();
        let head = client
            .head(url)
            .header("Accept-Encoding", "identity")
            .send()
            .await?;
        bytes += head
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .unwrap_or(0);
    }
    client.delete(&status).send().await?;
    Ok((n, secs, bytes))
}

/// The live resources' bodies of `tenant` copied to `out` by the database's own client:
/// (rows, seconds).
async fn raw_copy(database: &str, tenant: &str, out: &Path) -> anyhow::Result<(u64, f64)> {
    let select = format!("SELECT content FROM resources WHERE tenant = '{tenant}' AND NOT deleted");
    let started = Instant::now();
    let status = if let Some(path) = database.strip_prefix("sqlite://") {
        let file = std::fs::File::create(out)?;
        tokio::process::Command::new("sqlite3")
            .arg(path)
            .arg(&select)
            .stdout(file)
            .status()
            .await?
    } else {
        let copy = format!("\\copy ({select}) TO '{}'", out.display());
        tokio::process::Command::new("psql")
            .arg(database)
            .args(["-q", "-c", &copy])
            .status()
            .await?
    };
    let secs = started.elapsed().as_secs_f64();
    if !status.success() {
        bail!("the raw copy failed: {status}");
    }
    let text = std::fs::read(out)?;
    let rows = text.iter().filter(|b| **b == b'\n').count() as u64;
    Ok((rows, secs))
}

/// The peak resident set of process `pid` so far, MiB (`VmHWM`).
fn peak_rss_mib(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or_else(|| "?".into(), |kb| (kb / 1024).to_string())
}
