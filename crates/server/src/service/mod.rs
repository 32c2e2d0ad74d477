//! Service functions: what an interaction does, independent of HTTP shapes. Handlers call
//! exactly one of these.

pub mod bundle;
pub mod capability;
pub mod conditional;
pub mod history;
pub mod patch;
pub mod reindex;
pub mod resources;
pub mod search;
pub mod tenants;
