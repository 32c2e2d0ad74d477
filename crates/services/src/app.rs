//! The application: the store and the long-lived components every service works with (the
//! per-tenant search parameters, the known tenants, the jobs runner's controls, the cursor
//! key), built once at start and shared by every request.

use store::{Store, TenantName};

use crate::auth::keys::AuthCache;
use crate::conformance_cache::ConformanceCache;
use crate::cursor::CursorKey;
use crate::jobs::Jobs;
use crate::known_tenants::KnownTenants;

/// What the services need to know of the configuration (the server fills it from its own).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Public base URL used in links and `fullUrl`s, without a trailing slash.
    pub base_url: String,
    /// Largest accepted request body (also bounds a PATCH's result).
    pub max_body_bytes: usize,
    /// Page size when `_count` is absent.
    pub default_count: u32,
    /// Largest honoured `_count`.
    pub max_count: u32,
    /// Most entries accepted in one batch or transaction Bundle.
    pub max_bundle_entries: usize,
    /// Key that signs paging cursors; `None`: a random key per process.
    pub cursor_secret: Option<String>,
    /// Whether authorization is enforced (`fhirdir serve --auth off` turns it off).
    pub auth_enforced: bool,
    /// Hosts the server may fetch from although they are loopback or private, and over
    /// plain http (`--outbound-allow`).
    pub outbound_allow: Vec<String>,
    /// How old a network's data may be before `$find-providers` flags it stale
    /// (`--stale-after`).
    pub stale_after: std::time::Duration,
    /// How long a subscriber may keep failing before its Subscription is set to `error`
    /// (`--subscription-give-up`).
    pub subscription_give_up: std::time::Duration,
    /// Bulk export: where files go, how large they grow, how long they stay, how many jobs.
    pub export: crate::bulk::ExportSettings,
    /// The folder `$import` may read files from (`--import-dir`); `None`: only http(s) inputs.
    pub import_dir: Option<std::path::PathBuf>,
}

pub struct App {
    pub store: Store,
    pub settings: Settings,
    /// Search parameters: the server-wide registry (built-in R4, Plan-Net, NDH, VHDir, plus
    /// `profiles/`) and each tenant's view of it ([`App::conformance`]).
    pub conformance: ConformanceCache,
    /// The tenants known to exist ([`App::context`]).
    pub tenants: KnownTenants,
    /// The background jobs runner: its kinds, settings and controls.
    pub jobs: Jobs,
    /// Seals paging cursors (history and search).
    pub cursors: CursorKey,
    /// Each tenant's token-signing keys and access policy ([`crate::auth::keys`]).
    pub auth: AuthCache,
    /// The one HTTP client for URLs that clients supply (JWK Sets, CRLs).
    pub outbound: outbound::Outbound,
    /// Directory-to-directory federation: apply locks and the worker's wake-up.
    pub federation: crate::federation::Federation,
    /// Access tokens for remote FHIR servers ([`crate::remote`]).
    pub tokens: crate::remote::Tokens,
    /// Harvests from remote directories: their runner's wake-up, rate limits, loop checks.
    pub harvest: crate::harvest::Harvests,
    /// When this process started, as a FHIR dateTime (CapabilityStatement.date).
    pub started: String,
    /// The FHIR packages tenants validate against ([`App::with_profiles`]).
    pub profiles: crate::validation::Library,
}

impl App {
    /// The application over `store`. `loaded`: SearchParameters read from `profiles/` or
    /// FHIR packages ([`conformance::package`]), which extend the built-in registry for every
    /// tenant.
    pub fn new(store: Store, settings: Settings, loaded: Vec<conformance::SearchParamDef>) -> App {
        let registry = conformance::Registry::builtin().extended(loaded.iter());
        App {
            store,
            cursors: CursorKey::new(settings.cursor_secret.as_deref()),
            conformance: ConformanceCache::new(registry, loaded),
            tenants: KnownTenants::default(),
            jobs: Jobs::new(),
            auth: AuthCache::default(),
            outbound: outbound::Outbound::new(outbound::OutboundConfig {
                allow_hosts: settings.outbound_allow.clone(),
                ..outbound::OutboundConfig::default()
            }),
            federation: crate::federation::Federation::default(),
            tokens: crate::remote::Tokens::default(),
            harvest: crate::harvest::Harvests::default(),
            started: fhir::meta::format_instant(chrono::Utc::now()),
            profiles: crate::validation::Library::default(),
            settings,
        }
    }

    /// The same, validating against `profiles` (the packages loaded at start and the
    /// package cache).
    pub fn with_profiles(self, profiles: crate::validation::Library) -> App {
        App { profiles, ..self }
    }

    /// The FHIR base of a tenant: `{base}/fhir/{tenant}`.
    pub fn tenant_base(&self, tenant: &TenantName) -> String {
        format!("{}/fhir/{}", self.settings.base_url, tenant)
    }
}
