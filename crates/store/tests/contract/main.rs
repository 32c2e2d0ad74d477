//! The store contract: one backend-neutral suite, every test run against every database
//! `testkit::test_databases()` provides (SQLite always, Postgres when reachable). Assertion
//! messages start with the backend name.
//!
//! One test binary, one module per concept.

mod auth;
mod concurrency;
mod history;
mod jobs;
mod lifecycle;
mod resources;
mod support;
mod tenants;
