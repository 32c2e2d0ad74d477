//! The one guarded HTTP client through which fhirdir fetches from addresses that strangers
//! supply: a registered client's `jwks_uri`, a certificate's CRL distribution points, later
//! upstream directories. It owns the server-side request forgery (SSRF) defences of the
//! OWASP SSRF Prevention Cheat Sheet:
//!
//! - scheme and host rules on the URL text (module `target`): https only, unless the operator
//!   allow-listed the host;
//! - address rules (module `address`): every address a host resolves to must be public (not
//!   loopback, private, link-local incl. cloud metadata, CGNAT, multicast, ... per the IANA
//!   special-purpose registries, RFC 6890), and an IP-literal host likewise;
//! - the connection goes to the addresses that were checked (module `resolve`), so DNS
//!   rebinding between check and connect cannot redirect it;
//! - no redirects (a 3xx is [`OutboundError::Redirect`]: following one would need every
//!   check again, and no caller needs it), no proxy from the environment (a proxy would
//!   resolve the host itself, past the checks), one timeout over the whole request, and a
//!   body cap enforced while reading (after gzip decoding, so a small compressed body
//!   cannot expand past it).
//!
//! Allow-listed hosts skip the address rules: they are the operator's own (a development
//! server on loopback, an internal upstream), named in configuration, never by a stranger.

mod address;
pub mod error;
mod resolve;
mod target;

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::{redirect, Client, Response};

pub use error::OutboundError;
pub use reqwest::{Method, Url};
use target::{AllowList, Target};

/// What [`Outbound`] may fetch and how much of it.
#[derive(Debug, Clone)]
pub struct OutboundConfig {
    /// Hosts the operator trusts: fetched over http or https, whatever they resolve to.
    /// Each entry is `host` (any port) or `host:port`, matched case-insensitively against the
    /// URL's host exactly (no subdomains); an IPv6 host is written `::1`, `[::1]` or
    /// `[::1]:8080`.
    pub allow_hosts: Vec<String>,
    /// Limit on the whole request: resolution, connection, headers and body. Default 5 s.
    pub timeout: Duration,
    /// Largest body accepted, in bytes (after content decoding). Default 1 MiB.
    pub max_bytes: usize,
}

impl Default for OutboundConfig {
    fn default() -> OutboundConfig {
        OutboundConfig {
            allow_hosts: Vec::new(),
            timeout: Duration::from_secs(5),
            max_bytes: 1024 * 1024,
        }
    }
}

/// A request for [`Outbound::send`].
#[derive(Debug)]
pub struct Request<'a> {
    pub method: reqwest::Method,
    pub url: &'a str,
    pub headers: &'a [(String, String)],
    /// The content type and the body.
    pub body: Option<(&'a str, Vec<u8>)>,
    /// Over the whole request.
    pub timeout: Duration,
    /// Largest body accepted, in bytes (after content decoding).
    pub max_bytes: usize,
}

/// What [`Outbound::send`] got back.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// `Retry-After` in seconds, when the server gave one that way.
    pub retry_after: Option<u64>,
    /// `Content-Location` (an asynchronous request's status URL), when given.
    pub location: Option<String>,
    pub body: Bytes,
}

/// The guarded HTTP client (see the crate docs for the rules). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbound {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    allow: AllowList,
    timeout: Duration,
    max_bytes: usize,
    /// For hosts outside the allow list: https only, names resolved by the checking resolver.
    guarded: Client,
    /// For allow-listed hosts: the system resolver, http permitted.
    trusted: Client,
}

impl Outbound {
    /// A client with `config`'s rules.
    ///
    /// # Panics
    /// If the TLS backend cannot be initialised (rustls with bundled roots: not expected).
    pub fn new(config: OutboundConfig) -> Outbound {
        let base = || {
            Client::builder()
                .redirect(redirect::Policy::none())
                .no_proxy()
                .user_agent(concat!("fhirdir/", env!("CARGO_PKG_VERSION")))
        };
        let guarded = base()
            .https_only(true)
            .dns_resolver(Arc::new(resolve::CheckingResolver))
            .build()
            .expect("TLS backend initialises");
        let trusted = base().build().expect("TLS backend initialises");
        Outbound {
            inner: Arc::new(Inner {
                allow: AllowList::new(&config.allow_hosts),
                timeout: config.timeout,
                max_bytes: config.max_bytes,
                guarded,
                trusted,
            }),
        }
    }

    /// GETs `url` and returns the body, under every rule in the crate docs: https unless
    /// allow-listed; every resolved address (or the IP literal) public unless allow-listed;
    /// connection to the checked addresses; no redirects; the configured timeout over the
    /// whole request; the body cap; 2xx only.
    pub async fn get(&self, url: &str) -> Result<Bytes, OutboundError> {
        let target = self.check(url)?;
        tokio::time::timeout(self.inner.timeout, self.fetch(target))
            .await
            .map_err(|_| OutboundError::Timeout)?
    }

    /// [`Outbound::get`], with the body parsed as JSON.
    pub async fn get_json(&self, url: &str) -> Result<serde_json::Value, OutboundError> {
        let body = self.get(url).await?;
        serde_json::from_slice(&body).map_err(|e| OutboundError::NotJson(e.to_string()))
    }

    /// POSTs `body` to `url` (a rest-hook notification) under the same rules as
    /// [`Outbound::get`], with `headers` and `timeout` (over the whole request) of the caller;
    /// succeeds on a 2xx answer, whose body (at most the body cap) is read and dropped.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(String, String)],
        content_type: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<(), OutboundError> {
        let answer = self
            .send(Request {
                method: reqwest::Method::POST,
                url,
                headers,
                body: Some((content_type, body)),
                timeout,
                max_bytes: self.inner.max_bytes,
            })
            .await?;
        match answer.status {
            200..=299 => Ok(()),
            other => Err(OutboundError::Status(other)),
        }
    }

    /// Sends `request` under the rules of [`Outbound::get`] (its own timeout and body cap)
    /// and answers whatever status came back except a redirect, which is refused: for a
    /// caller that tells a 404 from a 429 (an upstream directory).
    pub async fn send(&self, request: Request<'_>) -> Result<Answer, OutboundError> {
        let target = self.check(request.url)?;
        let client = if target.allowed {
            &self.inner.trusted
        } else {
            &self.inner.guarded
        };
        let mut builder = client.request(request.method, target.url);
        if let Some((content_type, body)) = request.body {
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body);
        }
        for (name, value) in request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let limit = request.max_bytes;
        let send = async {
            let response = builder.send().await.map_err(transport_error)?;
            let status = response.status();
            if status.is_redirection() {
                return Err(OutboundError::Redirect(status.as_u16()));
            }
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let location = response
                .headers()
                .get(reqwest::header::CONTENT_LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = read_capped(response, limit).await?;
            Ok(Answer {
                status: status.as_u16(),
                retry_after,
                location,
                body,
            })
        };
        tokio::time::timeout(request.timeout, send)
            .await
            .map_err(|_| OutboundError::Timeout)?
    }

    /// Whether `url` passes the scheme and host rules alone, without resolving anything (to
    /// refuse a registration's `jwks_uri` early). A host name that passes here may still be
    /// refused by [`Outbound::get`] for the addresses it resolves to.
    pub fn check_url(&self, url: &str) -> Result<(), OutboundError> {
        self.check(url).map(|_| ())
    }

    fn check(&self, url: &str) -> Result<Target, OutboundError> {
        target::check(url, &self.inner.allow)
    }

    async fn fetch(&self, target: Target) -> Result<Bytes, OutboundError> {
        let client = if target.allowed {
            &self.inner.trusted
        } else {
            &self.inner.guarded
        };
        let response = client
            .get(target.url)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        if status.is_redirection() {
            return Err(OutboundError::Redirect(status.as_u16()));
        }
        if !status.is_success() {
            return Err(OutboundError::Status(status.as_u16()));
        }
        read_capped(response, self.inner.max_bytes).await
    }
}

/// Reads the body, refusing it as soon as it is known to exceed `limit`: at once on a
/// larger Content-Length, else at the first chunk past the cap.
async fn read_capped(mut response: Response, limit: usize) -> Result<Bytes, OutboundError> {
    let too_large = OutboundError::TooLarge { limit };
    if let Some(length) = response.content_length() {
        if usize::try_from(length).map_or(true, |l| l > limit) {
            return Err(too_large);
        }
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if chunk.len() > limit - body.len() {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// A refusal from the checking resolver comes back wrapped in the connector's errors: find
/// it. Anything else is a transport failure, described with its whole cause chain (the
/// top-level reqwest message alone rarely says what went wrong).
fn transport_error(err: reqwest::Error) -> OutboundError {
    let mut causes = Vec::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<OutboundError>() {
            return refused.clone();
        }
        causes.push(e.to_string());
        source = e.source();
    }
    if err.is_timeout() {
        return OutboundError::Timeout;
    }
    OutboundError::Transport(causes.join(": "))
}
