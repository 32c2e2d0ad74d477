//! Authorization, black-box: SMART Backend Services and UDAP discovery, registration and
//! tokens, and the access rule on every interaction; once per backend. Every rule is tested
//! on its refusal as carefully as on its success.

mod common;

#[path = "auth/support.rs"]
mod support;

#[path = "auth/admin.rs"]
mod admin;
#[path = "auth/audit.rs"]
mod audit;
#[path = "auth/cli.rs"]
mod cli;
#[path = "auth/policy.rs"]
mod policy;
#[path = "auth/scopes.rs"]
mod scopes;
#[path = "auth/smart.rs"]
mod smart;
#[path = "auth/udap.rs"]
mod udap;
