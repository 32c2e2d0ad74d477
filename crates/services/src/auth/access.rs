//! The access rule of every FHIR interaction, stated once: [`RequestCtx::authorize`].
//!
//! | caller                         | read, search, history        | create, update, patch, delete |
//! |--------------------------------|------------------------------|-------------------------------|
//! | `--auth off`                   | yes                          | yes                           |
//! | fhirdir itself (jobs, CLI)     | yes                          | yes                           |
//! | anonymous                      | when the tenant allows (401) | never (401)                   |
//! | a client                       | what its scopes grant (403)  | what its scopes grant (403)   |
//!
//! Two types differ: AuditEvent is the server's record (`crate::audit`), so nobody writes it
//! (405, whatever the policy) and anonymous callers never read it (401), even where the
//! tenant allows anonymous reads; with `--auth off` it is readable like the rest.
//!
//! A 401 carries `WWW-Authenticate: Bearer` and says where to get a token; a 403 says which
//! scope was missing. Scopes are SMART v1/v2 system scopes (SMART App Launch 2.2 §scopes):
//! `r` read and vread, `s` search and history, `c` create, `u` update and patch, `d` delete.
//! An operation over every type (`$reindex`, system history) needs the wildcard scope.
//! Every refusal is recorded ([`super::events`]).

pub use auth::Interaction;

use fhir::IssueType;
use http::{header, HeaderValue, StatusCode};

use crate::ctx::{Principal, RequestCtx};
use crate::error::{Error, Result};

/// The "type" of an operation over all types: only a `system/*` scope grants it.
pub const ALL_TYPES: &str = "*";

fn verb(i: Interaction) -> &'static str {
    match i {
        Interaction::Create => "create",
        Interaction::Read => "read",
        Interaction::Update => "update",
        Interaction::Delete => "delete",
        Interaction::Search => "search",
    }
}

fn is_read(i: Interaction) -> bool {
    matches!(i, Interaction::Read | Interaction::Search)
}

impl RequestCtx {
    /// Whether this request may do `interaction` on resources of `rtype`.
    pub fn may(&self, rtype: &str, interaction: Interaction) -> bool {
        self.check(rtype, interaction).is_ok()
    }

    /// [`RequestCtx::may`], or the 401/403 that says why not (and is recorded).
    pub fn authorize(&self, rtype: &str, interaction: Interaction) -> Result<()> {
        self.check(rtype, interaction).inspect_err(|e| {
            let client = match self.principal() {
                Principal::Client(c) => Some(c.client_id.clone()),
                _ => None,
            };
            self.app().record_auth_event_soon(
                self.tenant(),
                "access",
                client,
                false,
                e.diagnostics(),
            );
        })
    }

    fn check(&self, rtype: &str, interaction: Interaction) -> Result<()> {
        let audit = rtype == crate::audit::AUDIT_EVENT;
        if audit && !is_read(interaction) {
            return Err(Error::new(
                StatusCode::METHOD_NOT_ALLOWED,
                IssueType::NotSupported,
                "AuditEvents are recorded by the server for every write; \
                 clients cannot create, update, patch or delete them",
            )
            .with_header(header::ALLOW, HeaderValue::from_static("GET")));
        }
        let policy = self.policy();
        if !policy.enforced {
            return Ok(());
        }
        let what = if rtype == ALL_TYPES {
            "every resource type".to_owned()
        } else {
            rtype.to_owned()
        };
        match self.principal() {
            Principal::System => Ok(()),
            Principal::Anonymous if is_read(interaction) && policy.anonymous_read && !audit => {
                Ok(())
            }
            Principal::Anonymous => {
                let token = super::token_url(&self.base());
                let why = if audit {
                    "the audit trail is not public"
                } else if is_read(interaction) {
                    "this tenant requires a bearer token for reads"
                } else {
                    "writes need a bearer token with a write scope for the resource type"
                };
                Err(Error::unauthorized(format!(
                    "{why} ({} of {what}): get an access token from {token} \
                     (grant_type client_credentials with a private_key_jwt client assertion: \
                     SMART Backend Services or UDAP B2B) and send it as \
                     Authorization: Bearer <token>",
                    verb(interaction)
                )))
            }
            Principal::Client(c) if c.scopes.allows(rtype, interaction) => Ok(()),
            Principal::Client(c) => Err(Error::forbidden(format!(
                "the access token's scopes ({}) do not allow {} of {what}",
                c.scopes,
                verb(interaction)
            ))),
        }
    }
}
