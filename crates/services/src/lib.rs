//! fhirdir's FHIR interactions as plain async functions, free of HTTP framework types: each
//! takes the [`RequestCtx`] first and answers a typed result or an [`Error`] that knows its
//! status and OperationOutcome. The server (`crates/server`) maps routes onto them and shapes
//! the responses; background jobs and the CLI call them with a system context.
//!
//! Long-lived state lives in [`App`]; per-request state in [`RequestCtx`].

mod app;
pub mod audit;
pub mod auth;
pub mod bulk;
pub mod bundle;
pub mod capability;
pub mod conditional;
mod conformance_cache;
pub mod ctx;
pub mod cursor;
pub mod error;
pub mod event_retention;
pub mod federation;
pub mod finder;
pub mod harvest;
pub mod history;
pub mod jobs;
pub mod known_tenants;
pub mod matching;
pub mod patch;
pub mod reindex;
pub mod remote;
pub mod request;
pub mod resources;
mod restricted;
pub mod restriction_settings;
pub mod search;
pub mod subscriptions;
pub mod tenant_conformance;
pub mod tenants;
pub mod validation;
pub mod verify;

pub use app::{App, Settings};
pub use ctx::{AccessPolicy, Client, Principal, RequestCtx};
pub use error::{Error, Result};
