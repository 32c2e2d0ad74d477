//! The background jobs runner: one task per process that runs every kind of durable job
//! (`$reindex` today; bulk export, `$import`, subscription delivery and directory sync
//! later) from the store's job queue (`store::jobs`).
//!
//! A kind is a [`JobKind`]: its name in the queue and a [`JobKind::step`] that does one
//! bounded unit of work (one batch) from the job's params and cursor. The runner ([`spawn`])
//! claims the oldest runnable job of any of its kinds under a lease ([`LEASE`]), runs
//! steps, and records the new `done` and cursor after each one, which extends the lease.
//! When a report answers that the job is no longer this process's (cancelled, or taken over
//! after the lease expired) it stops at once; when a step says the job is finished it
//! completes it; a failing step fails it. A process that dies leaves its job claimed until
//! the lease expires; then this or another process resumes it from the last recorded
//! cursor, so a step must be safe to redo.
//!
//! [`Jobs`] (in [`crate::App`]) holds the runner's settings and the controls tests and
//! maintenance use; the kinds are the runner's, not the application's, so the application
//! state does not depend on the services that run as jobs.

mod controls;
mod runner;

pub use controls::{Jobs, DEFAULT_BATCH, POLL};
pub use runner::{run_next, spawn, spawn_with, BoxFuture, JobKind, Step, LEASE};
