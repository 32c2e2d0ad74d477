//! Markdown output: machine facts and table rows, printed so BENCHMARKS.md can be pasted
//! from the run.

use std::process::Command;

use crate::load::Outcome;

/// `nproc`, CPU model, kernel and git commit, as markdown bullet lines.
pub fn machine_facts() -> String {
    let nproc = std::thread::available_parallelism().map_or(0, usize::from);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown", |(_, v)| v.trim())
        .to_owned();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let kb: u64 = m
                .lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()?;
            Some(format!("{:.1} GiB", kb as f64 / 1024.0 / 1024.0))
        })
        .unwrap_or_else(|| "unknown".into());
    let commit = cmd("git", &["rev-parse", "--short", "HEAD"]);
    let dirty = !cmd("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty();
    let kernel = cmd("uname", &["-r"]);
    format!(
        "- machine: {nproc} CPUs (`nproc`), {cpu}, {mem} RAM, Linux {kernel}\n\
         - commit: `{commit}`{}\n\
         - load generator and server share the same {nproc} CPUs (loopback)\n",
        if dirty {
            " (working tree has uncommitted changes)"
        } else {
            ""
        }
    )
}

fn cmd(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// Header of the per-measurement table.
pub const DETAIL_HEADER: &str =
    "| backend | measurement | requests | errors | req/s | p50 ms | p99 ms | server CPU µs/req | load-gen CPU µs/req | load1 after |\n\
     |---|---|---:|---:|---:|---:|---:|---:|---:|---:|";

fn cpu(us: Option<f64>) -> String {
    us.map_or("?".into(), |us| format!("{us:.0}"))
}

/// One per-measurement row.
pub fn detail_row(backend: &str, what: &str, o: &Outcome) -> String {
    format!(
        "| {backend} | {what} | {} | {} | {:.0} | {:.2} | {:.2} | {} | {} | {} |",
        o.ok,
        o.errors,
        o.rps(),
        o.percentile_ms(50.0),
        o.percentile_ms(99.0),
        cpu(o.server_cpu_us()),
        cpu(o.client_cpu_us()),
        crate::child::load1(),
    )
}

/// Header of the summary table (one row per backend).
pub const SUMMARY_HEADER: &str = "| backend | resources | create (PUT) res/s | create p50 / p99 ms | create (POST) res/s | POST p50 / p99 ms | read req/s | read p50 / p99 ms | ceiling req/s | ratio | ceiling + middleware req/s |\n\
                                  |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

/// The measurements of one backend.
pub struct Summary<'a> {
    pub backend: &'a str,
    pub resources: u64,
    pub put: &'a Outcome,
    pub post: &'a Outcome,
    pub read: &'a Outcome,
    pub ceiling: &'a Outcome,
    pub ceiling_mw: &'a Outcome,
}

impl Summary<'_> {
    /// The summary row; `ratio` = read req/s / bare ceiling req/s.
    pub fn row(&self) -> String {
        let lat = |o: &Outcome| {
            format!(
                "{:.2} / {:.2}",
                o.percentile_ms(50.0),
                o.percentile_ms(99.0)
            )
        };
        format!(
            "| {} | {} | {:.0} | {} | {:.0} | {} | {:.0} | {} | {:.0} | **{:.2}** | {:.0} |",
            self.backend,
            self.resources,
            self.put.rps(),
            lat(self.put),
            self.post.rps(),
            lat(self.post),
            self.read.rps(),
            lat(self.read),
            self.ceiling.rps(),
            self.read.rps() / self.ceiling.rps(),
            self.ceiling_mw.rps(),
        )
    }
}
