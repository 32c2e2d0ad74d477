//! `Outbound` against scripted HTTP servers on 127.0.0.1 that each test starts itself; nothing
//! off the machine is contacted. Each server answers every connection with the same script
//! of writes and pauses, and counts connections so a test can prove a refusal came before
//! any connect.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use outbound::{Outbound, OutboundConfig, OutboundError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

enum Step {
    Send(Vec<u8>),
    Pause(Duration),
}

struct Server {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
}

impl Server {
    fn port(&self) -> u16 {
        self.addr.port()
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

async fn serve(script: Vec<Step>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&connections);
    let script = Arc::new(script);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(answer(socket, Arc::clone(&script)));
        }
    });
    Server { addr, connections }
}

async fn answer(mut socket: TcpStream, script: Arc<Vec<Step>>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    for step in script.iter() {
        match step {
            Step::Send(bytes) => {
                if socket.write_all(bytes).await.is_err() {
                    return;
                }
            }
            Step::Pause(d) => tokio::time::sleep(*d).await,
        }
    }
    let _ = socket.shutdown().await;
}

/// A complete response with a Content-Length.
fn reply(status: &str, extra_headers: &str, body: &str) -> Step {
    Step::Send(
        format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra_headers}\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

fn chunk(size: usize) -> Step {
    Step::Send(format!("{size:x}\r\n{}\r\n", "x".repeat(size)).into_bytes())
}

const CHUNKED_HEAD: &str =
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";

fn client(allow_hosts: &[&str]) -> Outbound {
    Outbound::new(OutboundConfig {
        allow_hosts: allow_hosts.iter().map(|h| (*h).to_owned()).collect(),
        ..OutboundConfig::default()
    })
}

fn capped(allow_hosts: &[&str], max_bytes: usize, timeout: Duration) -> Outbound {
    Outbound::new(OutboundConfig {
        allow_hosts: allow_hosts.iter().map(|h| (*h).to_owned()).collect(),
        timeout,
        max_bytes,
    })
}

fn assert_refused(result: Result<impl std::fmt::Debug, OutboundError>, why: &str) {
    match result {
        Err(OutboundError::Refused { reason, .. }) if reason.contains(why) => {}
        other => panic!("expected a refusal naming {why:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn allowed_loopback_ip_is_fetched_over_http() {
    let server = serve(vec![reply("200 OK", "", "hello")]).await;
    let body = client(&["127.0.0.1"])
        .get(&format!("http://127.0.0.1:{}/jwks", server.port()))
        .await
        .unwrap();
    assert_eq!(&body[..], b"hello");
}

#[tokio::test]
async fn allow_entry_with_a_port_allows_only_that_port() {
    let server = serve(vec![reply("200 OK", "", "hello")]).await;
    let url = format!("http://127.0.0.1:{}/", server.port());
    let exact = client(&[&format!("127.0.0.1:{}", server.port())]);
    assert_eq!(&exact.get(&url).await.unwrap()[..], b"hello");
    let other_port = client(&[&format!("127.0.0.1:{}", server.port() + 1)]);
    assert_refused(other_port.get(&url).await, "http");
}

#[tokio::test]
async fn loopback_ip_is_refused_when_not_allowed_before_connecting() {
    let server = serve(vec![reply("200 OK", "", "secret")]).await;
    let outbound = client(&[]);
    assert_refused(
        outbound
            .get(&format!("https://127.0.0.1:{}/", server.port()))
            .await,
        "loopback",
    );
    assert_refused(
        outbound
            .get(&format!("https://[::ffff:127.0.0.1]:{}/", server.port()))
            .await,
        "loopback",
    );
    assert_refused(
        outbound
            .get(&format!("http://127.0.0.1:{}/", server.port()))
            .await,
        "http",
    );
    assert_eq!(server.connections(), 0);
}

#[tokio::test]
async fn localhost_is_refused_by_its_resolved_address_unless_allowed() {
    let server = serve(vec![reply("200 OK", "", "hello")]).await;
    let result = client(&[])
        .get(&format!("https://localhost:{}/", server.port()))
        .await;
    match result {
        Err(OutboundError::Refused { host, reason }) => {
            assert_eq!(host, "localhost");
            assert!(reason.contains("loopback"), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(server.connections(), 0);

    let body = client(&["LOCALHOST"])
        .get(&format!("http://localhost:{}/", server.port()))
        .await
        .unwrap();
    assert_eq!(&body[..], b"hello");
}

#[test]
fn check_url_applies_scheme_and_literal_rules_without_the_network() {
    let outbound = client(&["dev.internal:8080"]);
    assert_refused(
        outbound.check_url("http://directory.example.org/jwks.json"),
        "http",
    );
    assert_eq!(
        outbound.check_url("https://directory.example.org/jwks.json"),
        Ok(())
    );
    assert_eq!(outbound.check_url("http://DEV.internal:8080/crl"), Ok(()));
    assert_refused(outbound.check_url("http://dev.internal/crl"), "http");
    for bad in [
        "not a url",
        "/relative/jwks",
        "ftp://directory.example.org/",
        "file:///etc/passwd",
    ] {
        assert!(
            matches!(outbound.check_url(bad), Err(OutboundError::BadUrl(_))),
            "{bad}"
        );
    }
    for (url, why) in [
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://10.0.0.1/", "private-use"),
        ("https://[::1]/", "loopback"),
        ("https://[fe80::1]/", "link-local"),
        ("https://[::ffff:192.168.0.1]/", "private-use"),
        ("https://0.0.0.0/", "this network"),
        ("https://2130706433/", "loopback"),
    ] {
        assert_refused(outbound.check_url(url), why);
    }
    // Public literals pass the classifier; they are never fetched here.
    assert_eq!(outbound.check_url("https://8.8.8.8/"), Ok(()));
    assert_eq!(
        outbound.check_url("https://[2001:4860:4860::8888]/"),
        Ok(())
    );
}

#[tokio::test]
async fn redirect_is_not_followed() {
    let elsewhere = serve(vec![reply("200 OK", "", "elsewhere")]).await;
    let location = format!("Location: http://127.0.0.1:{}/\r\n", elsewhere.port());
    let server = serve(vec![reply("302 Found", &location, "")]).await;
    let result = client(&["127.0.0.1"])
        .get(&format!("http://127.0.0.1:{}/", server.port()))
        .await;
    assert_eq!(result, Err(OutboundError::Redirect(302)));
    assert_eq!(elsewhere.connections(), 0);
}

#[tokio::test]
async fn content_length_over_the_cap_is_refused_before_the_body() {
    // The body never comes: only an early refusal can finish before the timeout.
    let server = serve(vec![
        Step::Send(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n".to_vec()),
        Step::Pause(Duration::from_secs(30)),
    ])
    .await;
    let started = Instant::now();
    let result = capped(&["127.0.0.1"], 1000, Duration::from_secs(5))
        .get(&format!("http://127.0.0.1:{}/", server.port()))
        .await;
    assert_eq!(result, Err(OutboundError::TooLarge { limit: 1000 }));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn chunked_body_over_the_cap_is_refused_while_reading() {
    // 1200 bytes, then the body never ends: the cap must trip mid-stream.
    let server = serve(vec![
        Step::Send(CHUNKED_HEAD.as_bytes().to_vec()),
        chunk(600),
        chunk(600),
        Step::Pause(Duration::from_secs(30)),
    ])
    .await;
    let started = Instant::now();
    let result = capped(&["127.0.0.1"], 1000, Duration::from_secs(5))
        .get(&format!("http://127.0.0.1:{}/", server.port()))
        .await;
    assert_eq!(result, Err(OutboundError::TooLarge { limit: 1000 }));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn chunked_body_exactly_at_the_cap_is_accepted() {
    let server = serve(vec![
        Step::Send(CHUNKED_HEAD.as_bytes().to_vec()),
        chunk(500),
        chunk(500),
        Step::Send(b"0\r\n\r\n".to_vec()),
    ])
    .await;
    let body = capped(&["127.0.0.1"], 1000, Duration::from_secs(5))
        .get(&format!("http://127.0.0.1:{}/", server.port()))
        .await
        .unwrap();
    assert_eq!(body.len(), 1000);
}

async fn assert_times_out(script: Vec<Step>) {
    let server = serve(script).await;
    let timeout = Duration::from_millis(300);
    let started = Instant::now();
    let result = capped(&["127.0.0.1"], 1000, timeout)
        .get(&format!("http://127.0.0.1:{}/", server.port()))
        .await;
    let elapsed = started.elapsed();
    assert_eq!(result, Err(OutboundError::Timeout));
    assert!(
        elapsed >= timeout && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn server_slow_to_answer_times_out() {
    assert_times_out(vec![Step::Pause(Duration::from_secs(30))]).await;
}

#[tokio::test]
async fn body_that_stalls_times_out_because_the_timeout_covers_the_whole_request() {
    assert_times_out(vec![
        Step::Send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc".to_vec()),
        Step::Pause(Duration::from_secs(30)),
    ])
    .await;
}

#[tokio::test]
async fn not_found_is_status_404() {
    let server = serve(vec![reply("404 Not Found", "", "no such thing")]).await;
    let result = client(&["127.0.0.1"])
        .get(&format!("http://127.0.0.1:{}/", server.port()))
        .await;
    assert_eq!(result, Err(OutboundError::Status(404)));
}

#[tokio::test]
async fn get_json_parses_json_and_refuses_anything_else() {
    let json = serve(vec![reply("200 OK", "", r#"{"keys":[]}"#)]).await;
    let value = client(&["127.0.0.1"])
        .get_json(&format!("http://127.0.0.1:{}/", json.port()))
        .await
        .unwrap();
    assert_eq!(value, serde_json::json!({"keys": []}));

    let html = serve(vec![reply("200 OK", "", "<html>not json</html>")]).await;
    let result = client(&["127.0.0.1"])
        .get_json(&format!("http://127.0.0.1:{}/", html.port()))
        .await;
    assert!(
        matches!(result, Err(OutboundError::NotJson(_))),
        "{result:?}"
    );
}
