//! Calls to the upstream directory ([`crate::remote`]: the guarded outbound client, with a
//! SMART Backend Services token when the setting has a client id and key). Export files (NDJSON, larger
//! than any page) have a cap and a time limit of their own.

use std::time::Duration;

use outbound::Method;
use serde_json::Value;
use store::Upstream;

use crate::error::{Error, Result};
use crate::remote::{Call, Credentials, Remote};
use crate::App;

/// Largest upstream answer read (a page of resources).
const MAX_BYTES: usize = 64 * 1024 * 1024;

/// Largest upstream export file read (one part of a Bulk Data export).
const MAX_FILE_BYTES: usize = 512 * 1024 * 1024;

/// One export file's time limit.
const FILE_TIMEOUT: Duration = Duration::from_secs(600);

/// One upstream request's time limit.
const TIMEOUT: Duration = Duration::from_secs(60);

/// What a replica asks the upstream for: reading everything, and its own Subscriptions.
const SCOPE: &str = "system/*.rs system/Subscription.cruds";

pub(super) struct Client<'a> {
    pub app: &'a App,
    pub up: &'a Upstream,
}

/// An upstream answer: status and JSON body (`Null` when empty or not JSON).
pub(super) struct Answer {
    pub status: u16,
    pub body: Value,
    /// `Content-Location` (an asynchronous request's status URL).
    pub location: Option<String>,
    /// `Retry-After`, seconds.
    pub retry_after: Option<u64>,
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

fn upstream_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::bad_gateway(format!("upstream {what}: {e}"))
}

impl Client<'_> {
    /// `GET url` (absolute).
    pub async fn get(&self, url: &str) -> Result<Answer> {
        self.call(Method::GET, url, None).await
    }

    /// `method url` with a FHIR JSON body.
    pub async fn call(&self, method: Method, url: &str, body: Option<&Value>) -> Result<Answer> {
        self.json(method, url, body, &[]).await
    }

    /// `method url` with extra request headers (`Prefer: respond-async`).
    pub async fn call_with(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<Answer> {
        self.json(method, url, None, headers).await
    }

    /// An export file's NDJSON (200 only).
    pub async fn get_ndjson(&self, url: &str) -> Result<bytes::Bytes> {
        let accept = ("Accept", "application/fhir+ndjson");
        let answer = self.raw(Method::GET, url, None, &[accept], true).await?;
        if answer.status != 200 {
            return Err(upstream_error(
                &format!("GET {url}"),
                format!("HTTP {}", answer.status),
            ));
        }
        Ok(answer.body)
    }

    async fn json(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Answer> {
        let mut all = vec![("Accept", "application/fhir+json")];
        all.extend_from_slice(headers);
        let answer = self.raw(method, url, body, &all, false).await?;
        Ok(Answer {
            status: answer.status,
            body: serde_json::from_slice(&answer.body).unwrap_or(Value::Null),
            location: answer.location,
            retry_after: answer.retry_after,
        })
    }

    /// One request, with the token when the setting has credentials (see [`crate::remote`]).
    async fn raw(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
        file: bool,
    ) -> Result<outbound::Answer> {
        let credentials = match (&self.up.client_id, &self.up.private_key) {
            (Some(client_id), Some(private_key)) => Credentials::Smart {
                client_id: client_id.clone(),
                private_key: private_key.clone(),
            },
            _ => Credentials::None,
        };
        let remote = Remote {
            app: self.app,
            base: &self.up.url,
            credentials: &credentials,
            key: format!("upstream {}", self.up.tenant),
            stamp: self.up.updated,
            scope: SCOPE,
        };
        let (timeout, max_bytes) = if file {
            (FILE_TIMEOUT, MAX_FILE_BYTES)
        } else {
            (TIMEOUT, MAX_BYTES)
        };
        remote
            .send(Call {
                method,
                url,
                headers,
                body: body.map(|b| ("application/fhir+json", b.to_string().into_bytes())),
                timeout,
                max_bytes,
            })
            .await
    }
}
