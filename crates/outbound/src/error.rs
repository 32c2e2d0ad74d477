//! [`OutboundError`]: why a guarded fetch returned no body. Every refusal carries enough for
//! a log line or a registration error (which host, which rule); none carries the body of a
//! response, which came from a stranger.

use thiserror::Error;

/// Why [`crate::Outbound`] refused or failed a fetch.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum OutboundError {
    /// The text is not an absolute `http`/`https` URL with a host.
    #[error("not a usable URL: {0}")]
    BadUrl(String),
    /// The scheme or host rules forbid the fetch (plain http, or an address in a refused range).
    #[error("refused to fetch from {host}: {reason}")]
    Refused {
        /// The URL's host, as the URL parser normalised it.
        host: String,
        /// Which rule refused it.
        reason: String,
    },
    /// The whole request (resolution, connection, headers and body) took longer than the
    /// configured timeout.
    #[error("the request timed out")]
    Timeout,
    /// The body is (or was announced as) larger than the configured cap.
    #[error("the response body exceeds {limit} bytes")]
    TooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// The server answered a status other than 2xx or 3xx.
    #[error("the server answered HTTP {0}")]
    Status(u16),
    /// The server answered a redirect, which is never followed.
    #[error("the server answered a redirect (HTTP {0}), which is not followed")]
    Redirect(u16),
    /// Name resolution, connection, TLS or HTTP failed.
    #[error("transport error: {0}")]
    Transport(String),
    /// [`crate::Outbound::get_json`]: the body is not JSON.
    #[error("the response is not JSON: {0}")]
    NotJson(String),
}
