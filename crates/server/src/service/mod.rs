//! Service functions: what an interaction does, independent of HTTP shapes. Handlers call
//! exactly one of these.

pub mod capability;
pub mod history;
pub mod patch;
pub mod resources;
pub mod tenants;
