//! The request context: of which tenant, asked by whom, under which access policy. It is
//! built once per request (the server's layer on `/fhir/{tenant}`, a background job for the
//! tenant of its job, the CLI for the tenant it names) and is the first argument of every
//! service function that reads or writes tenant data. The store filters on the one value
//! derived from it ([`RequestCtx::scope`]: the tenant today, with the caller's visibility
//! once restricted content exists), so a rule about who sees what is applied in one place.

use std::sync::{Arc, Mutex};

use fhir::outcome::Issue;
use store::TenantName;

use crate::error::{Error, Result};
use crate::App;

/// Who is asking.
#[derive(Debug, Clone)]
pub enum Principal {
    /// No credentials: the public reader of a directory (Plan-Net requires public read).
    Anonymous,
    /// A client with a valid access token of this tenant.
    Client(Arc<Client>),
    /// fhirdir itself: background jobs, the CLI and start-up work, which act for no client.
    System,
}

/// A client, as its access token describes it (SMART Backend Services or UDAP B2B).
#[derive(Debug, Clone)]
pub struct Client {
    pub client_id: String,
    /// What the token grants.
    pub scopes: auth::Scopes,
    /// The organization the client acts for: registered by the operator, or the UDAP
    /// `hl7-b2b` extension's `organization_id`.
    pub organization: Option<String>,
    /// The UDAP `hl7-b2b` purposes of use.
    pub purpose_of_use: Vec<String>,
    /// The operator lets it see all restricted content.
    pub see_restricted: bool,
    /// The token's `jti`, for audit.
    pub token_id: String,
}

/// What a tenant lets callers do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessPolicy {
    /// Whether the rules apply at all (`fhirdir serve --auth off` turns them off).
    pub enforced: bool,
    /// Anonymous callers may read and search.
    pub anonymous_read: bool,
}

impl Default for AccessPolicy {
    fn default() -> Self {
        AccessPolicy {
            enforced: true,
            anonymous_read: true,
        }
    }
}

/// See the module documentation. Cheap to build and to clone: the tenant's existence comes from
/// [`App::tenants`] after its first request.
#[derive(Clone)]
pub struct RequestCtx {
    app: Arc<App>,
    tenant: TenantName,
    principal: Principal,
    policy: AccessPolicy,
    request_id: Option<String>,
    /// The tenant's FHIR base, for clients (restriction provisions may name their
    /// organization by absolute URL); empty otherwise.
    client_base: String,
    /// Warnings about what the request wrote (validation in `warn` mode), for
    /// `Prefer: return=OperationOutcome`.
    notes: Arc<Mutex<Vec<Issue>>>,
}

impl std::fmt::Debug for RequestCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestCtx")
            .field("tenant", &self.tenant)
            .field("principal", &self.principal)
            .field("policy", &self.policy)
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

impl RequestCtx {
    /// Keeps `issues` (warnings about what this request wrote) for its response.
    pub fn note(&self, issues: Vec<Issue>) {
        if !issues.is_empty() {
            let mut notes = self.notes.lock().unwrap_or_else(|e| e.into_inner());
            notes.extend(issues);
        }
    }

    /// The warnings noted so far ([`RequestCtx::note`]), taken.
    pub fn take_notes(&self) -> Vec<Issue> {
        let mut notes = self.notes.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *notes)
    }

    /// The application the request runs in.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// The application, shared (for work that outlives the request).
    pub fn app_arc(&self) -> &Arc<App> {
        &self.app
    }

    /// The tenant, known to exist when the context was built.
    pub fn tenant(&self) -> &TenantName {
        &self.tenant
    }

    /// What this request's store calls act within ([`store::Scope`]): every read, search,
    /// history page and write of the request takes it, and sees only what the principal
    /// may see of restricted content.
    pub fn scope(&self) -> store::Scope<'_> {
        store::Scope::viewing(&self.tenant, self.viewer())
    }

    /// Who is looking, for the restricted-content rule ([`restrict::visibility`]). Anonymous
    /// callers, with `--auth off` too, see no restricted content: turning authorization off
    /// does not publish it.
    pub fn viewer(&self) -> restrict::Viewer<'_> {
        match &self.principal {
            Principal::Anonymous => restrict::Viewer::Anonymous,
            Principal::System => restrict::Viewer::System,
            Principal::Client(c) => restrict::Viewer::Client {
                organization: c.organization.as_deref(),
                purpose_of_use: &c.purpose_of_use,
                see_restricted: c.see_restricted,
                tenant_base: &self.client_base,
            },
        }
    }

    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// Who the request's writes are by, as their change events record it.
    pub fn agent(&self) -> store::Agent {
        match &self.principal {
            Principal::Anonymous => store::Agent::Anonymous,
            Principal::System => store::Agent::System,
            Principal::Client(c) => store::Agent::Client(c.client_id.clone()),
        }
    }

    /// Opens the request's store transaction: its scope, and its writes recorded as the
    /// principal's.
    pub async fn begin(&self) -> Result<store::StoreTx> {
        let mut tx = self.app.store.begin(self.scope()).await?;
        tx.set_agent(self.agent());
        Ok(tx)
    }

    pub fn policy(&self) -> AccessPolicy {
        self.policy
    }

    /// The request's `X-Request-ID`, for logs and audit.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// The FHIR base of the tenant: `{base}/fhir/{tenant}`.
    pub fn base(&self) -> String {
        self.app.tenant_base(&self.tenant)
    }
}

impl App {
    /// The context of a request to the tenant named `raw` in its URL, presenting `bearer`
    /// (the `Authorization: Bearer` token, if any): a 404 when no such tenant exists, a 401
    /// (`invalid_token`) when the token is not a valid token of this tenant.
    pub async fn context(
        self: &Arc<Self>,
        raw: &str,
        bearer: Option<&str>,
        request_id: Option<String>,
    ) -> Result<RequestCtx> {
        let tenant = TenantName::parse(raw).map_err(|_| Error::unknown_tenant(raw))?;
        if !self.tenants.contains(&tenant) {
            if !self.store.tenant_exists(&tenant).await? {
                return Err(Error::unknown_tenant(raw));
            }
            self.tenants.insert(&tenant);
        }
        let (principal, policy) = if self.settings.auth_enforced {
            let principal = match bearer {
                Some(token) => self.authenticate(&tenant, token).await?,
                None => Principal::Anonymous,
            };
            let policy = AccessPolicy {
                enforced: true,
                anonymous_read: self.anonymous_read(&tenant).await?,
            };
            (principal, policy)
        } else {
            let policy = AccessPolicy {
                enforced: false,
                anonymous_read: true,
            };
            (Principal::Anonymous, policy)
        };
        let client_base = match principal {
            Principal::Client(_) => self.tenant_base(&tenant),
            Principal::Anonymous | Principal::System => String::new(),
        };
        Ok(RequestCtx {
            app: self.clone(),
            tenant,
            principal,
            policy,
            request_id,
            client_base,
            notes: Arc::default(),
        })
    }

    /// The context in which fhirdir itself works on `tenant` (jobs, start-up): the system
    /// principal, which every policy allows. The caller knows the tenant exists (a store call
    /// on one that does not answers 404 as usual).
    pub fn system_context(self: &Arc<Self>, tenant: TenantName) -> RequestCtx {
        RequestCtx {
            app: self.clone(),
            tenant,
            principal: Principal::System,
            policy: AccessPolicy::default(),
            request_id: None,
            client_base: String::new(),
            notes: Arc::default(),
        }
    }
}
