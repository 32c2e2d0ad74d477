//! Prometheus metrics (`/metrics`, text exposition format 0.0.4): requests by route, method
//! and status, a latency histogram per route, and database pool gauges.
//!
//! Hand-rolled on purpose: a few counters under one mutex cost less per request than a
//! metrics framework, and the output format is small and stable.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use store::PoolStats;

/// Histogram bucket upper bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Methods get a small index so recording a request allocates nothing.
const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER",
];

fn method_index(method: &str) -> usize {
    METHODS[..7].iter().position(|m| *m == method).unwrap_or(7)
}

#[derive(Default)]
struct RouteStats {
    /// (method index, status) -> count.
    requests: BTreeMap<(usize, u16), u64>,
    latency: Histogram,
}

#[derive(Default)]
struct Inner {
    routes: std::collections::HashMap<String, RouteStats>,
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    /// Records one finished request. `route` is the matched route template, never the raw
    /// path, so the number of series stays bounded. Allocates only the first time a route
    /// is seen.
    pub fn record(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let Ok(mut m) = self.inner.lock() else { return };
        let stats = match m.routes.get_mut(route) {
            Some(s) => s,
            None => m.routes.entry(route.to_owned()).or_default(),
        };
        *stats
            .requests
            .entry((method_index(method), status))
            .or_default() += 1;
        let h = &mut stats.latency;
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    /// The exposition text.
    pub fn render(&self, pool: PoolStats, backend: &str) -> String {
        let mut out = String::new();
        let Ok(m) = self.inner.lock() else { return out };
        out.push_str(
            "# HELP fhirdir_http_requests_total HTTP requests by route, method and status.\n",
        );
        out.push_str("# TYPE fhirdir_http_requests_total counter\n");
        let mut routes: Vec<(&String, &RouteStats)> = m.routes.iter().collect();
        routes.sort_by(|a, b| a.0.cmp(b.0));
        for (route, stats) in &routes {
            for ((method, status), n) in &stats.requests {
                let _ = writeln!(
                    out,
                    "fhirdir_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {n}",
                    escape(route),
                    METHODS[*method]
                );
            }
        }
        out.push_str("# HELP fhirdir_http_request_duration_seconds Request latency by route.\n");
        out.push_str("# TYPE fhirdir_http_request_duration_seconds histogram\n");
        for (route, stats) in &routes {
            let h = &stats.latency;
            let r = escape(route);
            for (i, le) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "fhirdir_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"{le}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "fhirdir_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "fhirdir_http_request_duration_seconds_sum{{route=\"{r}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "fhirdir_http_request_duration_seconds_count{{route=\"{r}\"}} {}",
                h.count
            );
        }
        out.push_str("# HELP fhirdir_db_pool_connections Open database connections.\n");
        out.push_str("# TYPE fhirdir_db_pool_connections gauge\n");
        let _ = writeln!(
            out,
            "fhirdir_db_pool_connections{{backend=\"{backend}\"}} {}",
            pool.size
        );
        out.push_str("# HELP fhirdir_db_pool_idle_connections Idle database connections.\n");
        out.push_str("# TYPE fhirdir_db_pool_idle_connections gauge\n");
        let _ = writeln!(
            out,
            "fhirdir_db_pool_idle_connections{{backend=\"{backend}\"}} {}",
            pool.idle
        );
        out
    }
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.record(
            "/fhir/{tenant}/{type}/{id}",
            "GET",
            200,
            Duration::from_micros(700),
        );
        m.record(
            "/fhir/{tenant}/{type}/{id}",
            "GET",
            404,
            Duration::from_millis(30),
        );
        let text = m.render(PoolStats { size: 3, idle: 2 }, "sqlite");
        assert!(text.contains("fhirdir_http_requests_total{route=\"/fhir/{tenant}/{type}/{id}\",method=\"GET\",status=\"200\"} 1"));
        assert!(text.contains("le=\"0.001\"} 1"), "{text}");
        assert!(text.contains("le=\"0.05\"} 2"), "{text}");
        assert!(text.contains("fhirdir_db_pool_connections{backend=\"sqlite\"} 3"));
    }
}
