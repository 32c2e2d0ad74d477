//! Calls to the upstream directory, through the guarded outbound client (its SSRF rules:
//! https unless the host is in `--outbound-allow`, no private addresses otherwise, no
//! redirects), with a SMART Backend Services token when the setting has a client id and key:
//! the token endpoint is read from the upstream's `.well-known/smart-configuration`, the
//! client authenticates with a signed assertion (`private_key_jwt`), and the token is kept
//! until a minute before it expires or the upstream refuses it. Export files (NDJSON, larger
//! than any page) have a cap and a time limit of their own.

use std::time::{Duration, Instant};

use outbound::{Method, Request};
use serde_json::Value;
use store::Upstream;

use crate::error::{Error, Result};
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

    /// One request, with the token when the setting has credentials; a 401 is retried once
    /// with a fresh token (it may have expired early or been revoked).
    async fn raw(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
        file: bool,
    ) -> Result<outbound::Answer> {
        let answer = self.once(method.clone(), url, body, headers, file).await?;
        if answer.status == 401 && self.up.client_id.is_some() {
            self.forget_token();
            return self.once(method, url, body, headers, file).await;
        }
        Ok(answer)
    }

    async fn once(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
        file: bool,
    ) -> Result<outbound::Answer> {
        let mut all: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        if let Some(token) = self.token().await? {
            all.push(("Authorization".to_owned(), format!("Bearer {token}")));
        }
        let (timeout, max_bytes) = if file {
            (FILE_TIMEOUT, MAX_FILE_BYTES)
        } else {
            (TIMEOUT, MAX_BYTES)
        };
        self.app
            .outbound
            .send(Request {
                method: method.clone(),
                url,
                headers: &all,
                body: body.map(|b| ("application/fhir+json", b.to_string().into_bytes())),
                timeout,
                max_bytes,
            })
            .await
            .map_err(|e| upstream_error(&format!("{method} {url}"), e))
    }

    fn key(&self) -> String {
        self.up.tenant.to_string()
    }

    fn forget_token(&self) {
        let mut tokens = self
            .app
            .federation
            .tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        tokens.remove(&self.key());
    }

    /// The access token to send, if the setting has credentials.
    async fn token(&self) -> Result<Option<String>> {
        let (Some(client_id), Some(pem)) = (&self.up.client_id, &self.up.private_key) else {
            return Ok(None);
        };
        {
            let tokens = self
                .app
                .federation
                .tokens
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some((updated, token, until)) = tokens.get(&self.key()) {
                if *updated == self.up.updated && Instant::now() < *until {
                    return Ok(Some(token.clone()));
                }
            }
        }
        let config_url = format!("{}/.well-known/smart-configuration", self.up.url);
        let config = self
            .app
            .outbound
            .get_json(&config_url)
            .await
            .map_err(|e| upstream_error("smart-configuration", e))?;
        let token_url = config["token_endpoint"]
            .as_str()
            .ok_or_else(|| upstream_error("smart-configuration", "no token_endpoint"))?;
        let now = chrono::Utc::now().timestamp();
        let assertion =
            auth::client_assertion::sign(pem, client_id, token_url, now).map_err(Error::invalid)?;
        let form = serde_urlencoded::to_string([
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.as_str()),
            ("scope", SCOPE),
        ])
        .map_err(|e| Error::internal(e.to_string()))?;
        let answer = self
            .app
            .outbound
            .send(Request {
                method: Method::POST,
                url: token_url,
                headers: &[],
                body: Some(("application/x-www-form-urlencoded", form.into_bytes())),
                timeout: TIMEOUT,
                max_bytes: 1024 * 1024,
            })
            .await
            .map_err(|e| upstream_error("token endpoint", e))?;
        let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        let Some(token) = body["access_token"]
            .as_str()
            .filter(|_| answer.status == 200)
        else {
            return Err(upstream_error(
                "token endpoint",
                format!(
                    "HTTP {}: {}",
                    answer.status,
                    body["error_description"]
                        .as_str()
                        .or(body["error"].as_str())
                        .unwrap_or("no access token")
                ),
            ));
        };
        let lifetime = body["expires_in"].as_u64().unwrap_or(300);
        let until = Instant::now() + Duration::from_secs(lifetime.saturating_sub(60).max(10));
        let mut tokens = self
            .app
            .federation
            .tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        tokens.insert(self.key(), (self.up.updated, token.to_owned(), until));
        Ok(Some(token.to_owned()))
    }
}
