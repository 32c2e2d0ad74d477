//! [`Scope`]: what a call that reads or writes a tenant's resources acts within: the tenant,
//! and who is looking ([`restrict::Viewer`]). The store leaves out what the viewer may not
//! see inside its queries, before paging and counting ([`crate::restricted`]), so every
//! channel (read, vread, history, search, includes, chains, `_has`, conditional writes) applies
//! the one rule of [`restrict::visibility`].
//!
//! A request's scope comes from its context (`services::RequestCtx::scope`). A bare
//! [`TenantName`] converts to the scope of the whole tenant as fhirdir itself sees it (jobs,
//! import, start-up, tests), never a client's request.

use restrict::Viewer;

use crate::TenantName;

/// See the module documentation. Cheap to copy: it borrows.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    tenant: &'a TenantName,
    viewer: Viewer<'a>,
}

impl<'a> Scope<'a> {
    /// Everything in `tenant`, restricted content included.
    pub fn whole(tenant: &'a TenantName) -> Scope<'a> {
        Scope {
            tenant,
            viewer: Viewer::System,
        }
    }

    /// What `viewer` may see of `tenant`.
    pub fn viewing(tenant: &'a TenantName, viewer: Viewer<'a>) -> Scope<'a> {
        Scope { tenant, viewer }
    }

    /// The tenant whose rows the call may touch.
    pub fn tenant(&self) -> &'a TenantName {
        self.tenant
    }

    /// Who is looking.
    pub fn viewer(&self) -> &Viewer<'a> {
        &self.viewer
    }
}

impl<'a> From<&'a TenantName> for Scope<'a> {
    fn from(tenant: &'a TenantName) -> Scope<'a> {
        Scope::whole(tenant)
    }
}
