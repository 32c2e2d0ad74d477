//! The error of the token and registration endpoints: RFC 6749 §5.2 JSON
//! (`{"error": ..., "error_description": ...}`), not an OperationOutcome. The codes:
//!
//! | code                            | status | when                                        |
//! |---------------------------------|--------|---------------------------------------------|
//! | `invalid_request`               | 400    | a parameter missing, repeated or malformed  |
//! | `unsupported_grant_type`        | 400    | anything but `client_credentials`           |
//! | `invalid_client`                | 401    | unknown client, or its assertion refused    |
//! | `invalid_scope`                 | 400    | nothing of the requested scope is granted   |
//! | `invalid_software_statement`    | 400    | UDAP registration: the statement is wrong   |
//! | `unapproved_software_statement` | 400    | UDAP registration: no trusted chain         |
//! | `invalid_client_metadata`       | 400    | UDAP registration: metadata not acceptable  |
//! | `server_error`                  | 500    | the database failed (detail in the log)     |
//! | `temporarily_unavailable`       | 503    | the database is unreachable                 |

use serde_json::json;

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct OAuthError {
    pub status: u16,
    pub error: &'static str,
    pub description: String,
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.description)
    }
}

impl OAuthError {
    fn new(status: u16, error: &'static str, description: impl Into<String>) -> OAuthError {
        OAuthError {
            status,
            error,
            description: description.into(),
        }
    }

    pub fn invalid_request(d: impl Into<String>) -> OAuthError {
        Self::new(400, "invalid_request", d)
    }

    pub fn unsupported_grant_type(d: impl Into<String>) -> OAuthError {
        Self::new(400, "unsupported_grant_type", d)
    }

    pub fn invalid_client(d: impl Into<String>) -> OAuthError {
        Self::new(401, "invalid_client", d)
    }

    pub fn invalid_scope(d: impl Into<String>) -> OAuthError {
        Self::new(400, "invalid_scope", d)
    }

    pub fn invalid_client_metadata(d: impl Into<String>) -> OAuthError {
        Self::new(400, "invalid_client_metadata", d)
    }

    pub fn invalid_software_statement(d: impl Into<String>) -> OAuthError {
        Self::new(400, "invalid_software_statement", d)
    }

    /// A registration error as the `udap` crate classified it.
    pub fn registration(e: udap::RegistrationError) -> OAuthError {
        Self::new(400, e.code.as_str(), e.description)
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        json!({"error": self.error, "error_description": self.description})
    }
}

/// A store failure at an OAuth endpoint: 503 when the database is unreachable, else 500;
/// the detail goes to the log only.
impl From<crate::Error> for OAuthError {
    fn from(e: crate::Error) -> OAuthError {
        if e.status().as_u16() == 503 {
            OAuthError::new(
                503,
                "temporarily_unavailable",
                "the database is unavailable; retry later",
            )
        } else if e.status().is_server_error() {
            tracing::error!(error = %e, "authorization endpoint failed");
            OAuthError::new(500, "server_error", "the server failed; see its log")
        } else {
            OAuthError::new(
                e.status().as_u16(),
                "invalid_request",
                e.diagnostics().to_owned(),
            )
        }
    }
}

impl From<store::StoreError> for OAuthError {
    fn from(e: store::StoreError) -> OAuthError {
        crate::Error::from(e).into()
    }
}
