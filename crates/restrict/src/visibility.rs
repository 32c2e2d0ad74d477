//! The one access rule for restricted content: what a [`Viewer`] may see of a resource, given
//! the [`Restrictions`] computed when it was written.
//!
//! - fhirdir itself ([`Viewer::System`]) and clients allowed to `see_restricted` see everything.
//! - Anonymous callers never see restricted content.
//! - An authenticated client sees content when every rule on it lets the client through: a
//!   Restriction without `provision` (or `meta.security` `R`) lets any client through; one with
//!   provisions only a client matched by one of its `permit`s (FHIR R4 Consent
//!   `provision.type`); `meta.security` `V` and unreadable Restrictions no client. A `deny`
//!   matching the client in any rule on the same content (the whole resource, or one element)
//!   wins over every permit.
//!
//! A provision matches a client when one of its actors references the client's organization,
//! relatively (`Organization/x`) or absolutely under the tenant's base (`{base}/Organization/x`),
//! and, when it lists purposes, the client's token carries one of their codes (a token purpose is
//! `code` or `system#code`; codes are compared, since the same v3 PurposeOfUse system is written
//! both as a URL and as an OID).

use crate::path::ElementPath;
use crate::policy::{Effect, Provision, Purpose, Restrictions, Rule};

/// Who is asking.
#[derive(Debug, Clone, Copy)]
pub enum Viewer<'a> {
    /// No credentials: never sees restricted content.
    Anonymous,
    /// A client with a valid access token of the tenant.
    Client {
        /// The organization the client acts for (`Organization/x`, or an absolute URL).
        organization: Option<&'a str>,
        /// The token's purposes of use (`SYSDEV` or `system#code`).
        purpose_of_use: &'a [String],
        /// The client may see all restricted content (a tenant grant).
        see_restricted: bool,
        /// The tenant's FHIR base URL, to read absolute actor references.
        tenant_base: &'a str,
    },
    /// fhirdir itself (background jobs, the CLI): sees everything.
    System,
}

impl Viewer<'_> {
    /// fhirdir itself, or a client granted `see_restricted`: no restriction applies to it.
    pub fn sees_everything(&self) -> bool {
        matches!(
            self,
            Viewer::System
                | Viewer::Client {
                    see_restricted: true,
                    ..
                }
        )
    }
}

/// What a viewer may see of a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    /// All of it.
    Whole,
    /// None of it: the resource does not exist for this viewer.
    Hidden,
    /// All but these elements (pass them to [`crate::redact`]).
    Redacted(Vec<ElementPath>),
}

/// What `viewer` may see of a resource whose policy is `r`. System and `see_restricted`: Whole.
pub fn visibility(r: &Restrictions, viewer: &Viewer) -> Visibility {
    if r.is_empty() || viewer.sees_everything() {
        return Visibility::Whole;
    }
    let client = match *viewer {
        Viewer::System => return Visibility::Whole,
        Viewer::Anonymous => None,
        Viewer::Client {
            organization,
            purpose_of_use,
            tenant_base,
            ..
        } => Some(Client {
            organization: organization.map(|o| relative(o, tenant_base)),
            purpose_of_use,
            tenant_base,
        }),
    };
    if !lets_through(r.whole(), client.as_ref()) {
        return Visibility::Hidden;
    }
    let hidden: Vec<ElementPath> = r
        .elements()
        .iter()
        .filter(|e| !lets_through(&e.rules, client.as_ref()))
        .map(|e| e.path.clone())
        .collect();
    if hidden.is_empty() {
        Visibility::Whole
    } else {
        Visibility::Redacted(hidden)
    }
}

/// An authenticated client without `see_restricted`.
struct Client<'a> {
    /// Relative to the tenant base when under it.
    organization: Option<&'a str>,
    purpose_of_use: &'a [String],
    tenant_base: &'a str,
}

/// Whether all of `rules` (on one piece of content) let `client` through; None is anonymous.
fn lets_through(rules: &[Rule], client: Option<&Client>) -> bool {
    if rules.is_empty() {
        return true;
    }
    let Some(client) = client else {
        return false;
    };
    let provisions = || {
        rules.iter().flat_map(|rule| match rule {
            Rule::Provisions { provisions } => provisions.as_slice(),
            Rule::Authenticated | Rule::Privileged => &[],
        })
    };
    if provisions().any(|p| p.effect == Effect::Deny && client.matches(p)) {
        return false;
    }
    rules.iter().all(|rule| match rule {
        Rule::Authenticated => true,
        Rule::Provisions { provisions } => provisions
            .iter()
            .any(|p| p.effect == Effect::Permit && client.matches(p)),
        Rule::Privileged => false,
    })
}

impl Client<'_> {
    fn matches(&self, provision: &Provision) -> bool {
        let Some(organization) = self.organization.filter(|o| !o.is_empty()) else {
            return false;
        };
        let actor = provision
            .actors
            .iter()
            .any(|a| relative(a, self.tenant_base) == organization);
        actor
            && (provision.purposes.is_empty()
                || provision
                    .purposes
                    .iter()
                    .any(|p| self.purpose_of_use.iter().any(|t| purpose_is(p, t))))
    }
}

/// Whether the token purpose `token` (`code` or `system#code`) is `purpose`.
fn purpose_is(purpose: &Purpose, token: &str) -> bool {
    let code = token.rsplit_once('#').map_or(token, |(_, code)| code);
    !code.is_empty() && code == purpose.code
}

/// `reference` relative to `base` when it lies under it (`{base}/Organization/x` →
/// `Organization/x`), else unchanged.
pub(crate) fn relative<'r>(reference: &'r str, base: &str) -> &'r str {
    let base = base.trim_end_matches('/');
    if base.is_empty() {
        return reference;
    }
    reference
        .strip_prefix(base)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(reference)
}
