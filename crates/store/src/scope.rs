//! [`Scope`]: what a call that reads or writes a tenant's resources acts within. Today that
//! is the tenant; restricted content adds what of the tenant's data the caller may see, and
//! the store's queries will filter on it here, in one place.
//!
//! A request's scope comes from its context (`services::RequestCtx::scope`). A bare
//! [`TenantName`] converts to the scope of the whole tenant: fhirdir's own work (jobs,
//! import, start-up) and tests, never a client's request.

use crate::TenantName;

/// See the module documentation. Cheap to copy: it borrows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope<'a> {
    tenant: &'a TenantName,
}

impl<'a> Scope<'a> {
    /// Everything in `tenant`.
    pub fn whole(tenant: &'a TenantName) -> Scope<'a> {
        Scope { tenant }
    }

    /// The tenant whose rows the call may touch.
    pub fn tenant(&self) -> &'a TenantName {
        self.tenant
    }
}

impl<'a> From<&'a TenantName> for Scope<'a> {
    fn from(tenant: &'a TenantName) -> Scope<'a> {
        Scope::whole(tenant)
    }
}
