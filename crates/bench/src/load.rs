//! The closed-loop load generator: `C` tasks, each owning one HTTP/1.1 keep-alive
//! connection (hyper's low-level client, no pool), each sending its next request as soon as
//! the previous answer has been read in full. Latencies are kept in memory (microseconds)
//! and sorted once at the end.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Builds the request for one sequence number: the global index in a counted run, a
/// per-connection pseudo-random number in a timed run.
pub type MakeRequest = Arc<dyn Fn(u64) -> Request<Full<Bytes>> + Send + Sync>;

/// When a run ends.
#[derive(Clone, Copy, Debug)]
pub enum Stop {
    /// Exactly this many requests (sequence numbers `0..n`), all measured.
    Count(u64),
    /// Unmeasured warm-up, then a measured window; only requests that start and finish
    /// inside the window count towards throughput and latency.
    Timed { warmup: Duration, measure: Duration },
}

/// What one run measured.
#[derive(Debug)]
pub struct Outcome {
    /// Requests counted (2xx, inside the measured window).
    pub ok: u64,
    /// Every request sent, warm-up included (the denominator of CPU per request).
    pub total: u64,
    /// CPU seconds the server process used during the whole run, when known.
    pub server_cpu: Option<f64>,
    /// CPU seconds this process (the load generator) used during the whole run.
    pub client_cpu: Option<f64>,
    /// Non-2xx answers and transport errors, at any time including warm-up.
    pub errors: u64,
    /// The first error seen, for the report.
    pub first_error: Option<String>,
    /// Length of the measured window.
    pub window: Duration,
    /// Sorted latencies of the counted requests, in microseconds.
    latencies: Vec<u32>,
}

impl Outcome {
    /// Counted requests per second.
    pub fn rps(&self) -> f64 {
        self.ok as f64 / self.window.as_secs_f64().max(1e-9)
    }

    /// The `p`-th percentile latency (nearest rank), in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        let idx = rank.clamp(1, self.latencies.len()) - 1;
        f64::from(self.latencies[idx]) / 1000.0
    }

    /// Server CPU time per request in microseconds, when the server's CPU was measured.
    pub fn server_cpu_us(&self) -> Option<f64> {
        Some(self.server_cpu? * 1e6 / self.total.max(1) as f64)
    }

    /// Load-generator CPU time per request in microseconds, when measured.
    pub fn client_cpu_us(&self) -> Option<f64> {
        Some(self.client_cpu? * 1e6 / self.total.max(1) as f64)
    }
}

/// Per-connection tallies, merged at the end.
#[derive(Default)]
struct Tally {
    ok: u64,
    total: u64,
    errors: u64,
    first_error: Option<String>,
    latencies: Vec<u32>,
}

impl Tally {
    fn error(&mut self, what: String) {
        self.errors += 1;
        self.first_error.get_or_insert(what);
    }
}

/// Shared run state.
struct Plan {
    addr: SocketAddr,
    make: MakeRequest,
    stop: Stop,
    next: AtomicU64,
    start: Instant,
}

impl Plan {
    /// The measured window `[from, to)`, relative to `start`.
    fn window(&self) -> (Instant, Option<Instant>) {
        match self.stop {
            Stop::Count(_) => (self.start, None),
            Stop::Timed { warmup, measure } => {
                let from = self.start + warmup;
                (from, Some(from + measure))
            }
        }
    }
}

/// Runs `connections` closed-loop connections against `addr` until `stop`.
pub async fn run(
    addr: SocketAddr,
    connections: usize,
    stop: Stop,
    make: MakeRequest,
) -> anyhow::Result<Outcome> {
    let plan = Arc::new(Plan {
        addr,
        make,
        stop,
        next: AtomicU64::new(0),
        start: Instant::now(),
    });
    let mut tasks = Vec::with_capacity(connections);
    for c in 0..connections {
        let plan = plan.clone();
        let seed = connection_seed(c);
        tasks.push(tokio::spawn(connection(plan, seed)));
    }
    let mut all = Tally::default();
    for t in tasks {
        let t = t.await.context("load task panicked")??;
        all.ok += t.ok;
        all.total += t.total;
        all.errors += t.errors;
        if all.first_error.is_none() {
            all.first_error = t.first_error;
        }
        all.latencies.extend(t.latencies);
    }
    let window = match stop {
        Stop::Count(_) => plan.start.elapsed(),
        Stop::Timed { measure, .. } => measure,
    };
    all.latencies.sort_unstable();
    Ok(Outcome {
        ok: all.ok,
        total: all.total,
        server_cpu: None,
        client_cpu: None,
        errors: all.errors,
        first_error: all.first_error,
        window,
        latencies: all.latencies,
    })
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// Opens one keep-alive connection; its driver runs on its own task.
async fn connect(addr: SocketAddr) -> anyhow::Result<Sender> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // Ends when the sender is dropped or the server closes; errors surface on send.
        let _ = conn.await;
    });
    Ok(sender)
}

/// The generator state of connection `c`. SplitMix64 steps its state by the golden-ratio
/// constant, so seeds that are multiples of that constant (as they once were) give every
/// connection the sequence of its neighbour shifted by one step; a different odd multiplier
/// puts the connections' sequences far apart.
fn connection_seed(c: usize) -> u64 {
    (c as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03)
}

/// SplitMix64: a tiny, good-enough generator for picking ids.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One connection's closed loop.
async fn connection(plan: Arc<Plan>, mut seed: u64) -> anyhow::Result<Tally> {
    let mut tally = Tally::default();
    let (from, to) = plan.window();
    let mut sender = connect(plan.addr).await?;
    loop {
        let seq = match plan.stop {
            Stop::Count(n) => {
                let i = plan.next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                i
            }
            Stop::Timed { .. } => {
                if to.is_some_and(|to| Instant::now() >= to) {
                    break;
                }
                splitmix(&mut seed)
            }
        };
        let req = (plan.make)(seq);
        let t0 = Instant::now();
        let answer = async {
            sender.ready().await?;
            let resp = sender.send_request(req).await?;
            let status = resp.status();
            let body = resp.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, body))
        }
        .await;
        let t1 = Instant::now();
        tally.total += 1;
        match answer {
            Ok((status, _)) if status.is_success() => {
                if t0 >= from && to.is_none_or(|to| t1 <= to) {
                    tally.ok += 1;
                    let micros = t1.duration_since(t0).as_micros();
                    tally
                        .latencies
                        .push(u32::try_from(micros).unwrap_or(u32::MAX));
                }
            }
            Ok((status, body)) => {
                let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
                tally.error(format!("HTTP {status}: {text}"));
            }
            Err(e) => {
                tally.error(format!("transport: {e:#}"));
                sender = connect(plan.addr).await?;
            }
        }
    }
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let o = Outcome {
            ok: 100,
            total: 100,
            server_cpu: Some(0.01),
            client_cpu: None,
            errors: 0,
            first_error: None,
            window: Duration::from_secs(2),
            latencies: (1..=100).map(|i| i * 1000).collect(),
        };
        assert_eq!(o.percentile_ms(50.0), 50.0);
        assert_eq!(o.percentile_ms(99.0), 99.0);
        assert_eq!(o.percentile_ms(100.0), 100.0);
        assert_eq!(o.rps(), 50.0);
        assert_eq!(o.server_cpu_us(), Some(100.0));
    }

    #[test]
    fn connections_draw_different_sequences() {
        let mut seen = std::collections::HashSet::new();
        for c in 0..64 {
            let mut s = connection_seed(c);
            for _ in 0..1000 {
                assert!(
                    seen.insert(splitmix(&mut s)),
                    "connection {c} repeats a value"
                );
            }
        }
    }

    #[test]
    fn splitmix_spreads_values() {
        let mut s = 1;
        let picks: std::collections::HashSet<u64> =
            (0..1000).map(|_| splitmix(&mut s) % 100).collect();
        assert_eq!(picks.len(), 100);
    }
}
