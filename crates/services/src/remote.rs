//! Calls to another FHIR server (an upstream directory, a harvested payer API, a primary
//! source), through the guarded outbound client (its SSRF rules: https unless the host is in
//! `--outbound-allow`, no private addresses otherwise, no redirects, size and time caps), with
//! the credentials the operator configured for it:
//!
//! - none;
//! - a static bearer token;
//! - a SMART Backend Services client (`client_id` and a private key): the token endpoint is
//!   read from the server's `.well-known/smart-configuration`, the client authenticates with
//!   a signed assertion (`private_key_jwt`, SMART App Launch 2.2 "Backend Services"), and the
//!   token is kept until a minute before it expires or the server refuses it (a 401 is
//!   retried once with a fresh token).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use outbound::{Method, Request};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::App;

/// One token request's time limit.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(60);

/// How a remote server is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    None,
    /// `Authorization: Bearer` with this token.
    Token(String),
    /// A SMART Backend Services client: its id and private key (PEM).
    Smart {
        client_id: String,
        private_key: String,
    },
}

/// Access tokens by remote: key, (setting written at, token, good until).
#[derive(Default)]
pub struct Tokens(Mutex<HashMap<String, (i64, String, Instant)>>);

impl Tokens {
    fn get(&self, key: &str, stamp: i64) -> Option<String> {
        let tokens = self.0.lock().unwrap_or_else(|e| e.into_inner());
        tokens
            .get(key)
            .filter(|(s, _, until)| *s == stamp && Instant::now() < *until)
            .map(|(_, token, _)| token.clone())
    }

    fn put(&self, key: &str, stamp: i64, token: String, until: Instant) {
        let mut tokens = self.0.lock().unwrap_or_else(|e| e.into_inner());
        tokens.insert(key.to_owned(), (stamp, token, until));
    }

    fn forget(&self, key: &str) {
        let mut tokens = self.0.lock().unwrap_or_else(|e| e.into_inner());
        tokens.remove(key);
    }
}

/// A remote FHIR server as one caller configured it.
pub struct Remote<'a> {
    pub app: &'a App,
    /// Its FHIR base, without a trailing slash.
    pub base: &'a str,
    pub credentials: &'a Credentials,
    /// Names the token in the cache (one per configured remote).
    pub key: String,
    /// When the configuration was written: a token of an older one is not used.
    pub stamp: i64,
    /// The scopes a SMART client asks for.
    pub scope: &'a str,
}

fn remote_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::bad_gateway(format!("remote {what}: {e}"))
}

/// One request to a remote.
pub struct Call<'a> {
    pub method: Method,
    pub url: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    /// Content type and bytes.
    pub body: Option<(&'a str, Vec<u8>)>,
    pub timeout: Duration,
    pub max_bytes: usize,
}

impl Remote<'_> {
    /// Sends `call` with the credentials; a 401 with a SMART client is retried once with a
    /// fresh token (the one held may have expired early or been revoked).
    pub async fn send(&self, call: Call<'_>) -> Result<outbound::Answer> {
        let answer = self.once(&call).await?;
        if answer.status == 401 && matches!(self.credentials, Credentials::Smart { .. }) {
            self.app.tokens.forget(&self.key);
            return self.once(&call).await;
        }
        Ok(answer)
    }

    async fn once(&self, call: &Call<'_>) -> Result<outbound::Answer> {
        let mut headers: Vec<(String, String)> = call
            .headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        if let Some(token) = self.token().await? {
            headers.push(("Authorization".to_owned(), format!("Bearer {token}")));
        }
        self.app
            .outbound
            .send(Request {
                method: call.method.clone(),
                url: call.url,
                headers: &headers,
                body: call.body.clone(),
                timeout: call.timeout,
                max_bytes: call.max_bytes,
            })
            .await
            .map_err(|e| remote_error(&format!("{} {}", call.method, call.url), e))
    }

    /// The access token to send, if any.
    async fn token(&self) -> Result<Option<String>> {
        let (client_id, pem) = match self.credentials {
            Credentials::None => return Ok(None),
            Credentials::Token(t) => return Ok(Some(t.clone())),
            Credentials::Smart {
                client_id,
                private_key,
            } => (client_id, private_key),
        };
        if let Some(token) = self.app.tokens.get(&self.key, self.stamp) {
            return Ok(Some(token));
        }
        let config_url = format!("{}/.well-known/smart-configuration", self.base);
        let config = self
            .app
            .outbound
            .get_json(&config_url)
            .await
            .map_err(|e| remote_error("smart-configuration", e))?;
        let token_url = config["token_endpoint"]
            .as_str()
            .ok_or_else(|| remote_error("smart-configuration", "no token_endpoint"))?;
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
            ("scope", self.scope),
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
                timeout: TOKEN_TIMEOUT,
                max_bytes: 1024 * 1024,
            })
            .await
            .map_err(|e| remote_error("token endpoint", e))?;
        let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        let Some(token) = body["access_token"]
            .as_str()
            .filter(|_| answer.status == 200)
        else {
            return Err(remote_error(
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
        self.app
            .tokens
            .put(&self.key, self.stamp, token.to_owned(), until);
        Ok(Some(token.to_owned()))
    }
}
