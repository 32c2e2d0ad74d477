//! Planner statistics kept fresh by the store itself (Postgres).
//!
//! Without statistics Postgres estimates one row for every condition, and for a chain such as
//! `PractitionerRole?practitioner.name=Cormier` it then picks a nested loop that rescans the
//! names of every Practitioner once per PractitionerRole: 7 s for 5,215 resources written
//! through the API, 2 ms once `ANALYZE` has run (BENCHMARKS.md "Statistics after API
//! writes"). Autovacuum analyses a table only after 10 % of it changed, checked once a
//! minute, and a new tenant shares tables whose statistics describe the others; so the store
//! counts what each tenant wrote since the last `ANALYZE` and runs one (in the background,
//! one at a time) once a tenant has written [`MIN_WRITES`] resources and a fifth of what it
//! held at the last `ANALYZE`. A tenant's first thousand writes trigger it early (the case
//! above); a large tenant's steady trickle rarely does.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// The fewest writes of a tenant that make an `ANALYZE` due.
pub(crate) const MIN_WRITES: u64 = 500;

/// See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct Statistics {
    tenants: Mutex<HashMap<String, Written>>,
    running: AtomicBool,
}

#[derive(Debug, Default, Clone, Copy)]
struct Written {
    /// Resources written since the last `ANALYZE` began.
    since: u64,
    /// Resources written before it (an upper bound of the tenant's size: updates count too).
    before: u64,
}

impl Statistics {
    /// Records `n` resources written in `tenant`. `true`: an `ANALYZE` is due and the caller
    /// must run it, then call [`Statistics::analyzed`].
    pub(crate) fn wrote(&self, tenant: &str, n: u64) -> bool {
        let mut tenants = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        let w = tenants.entry(tenant.to_owned()).or_default();
        w.since += n;
        let due = w.since >= MIN_WRITES.max(w.before / 5);
        if !due || self.running.swap(true, Ordering::AcqRel) {
            return false;
        }
        // What is written from now on is not covered by this ANALYZE's sample.
        for w in tenants.values_mut() {
            w.before += w.since;
            w.since = 0;
        }
        true
    }

    /// The `ANALYZE` that [`Statistics::wrote`] asked for has ended.
    pub(crate) fn analyzed(&self) {
        self.running.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_tenant_is_analysed_after_its_first_writes_and_a_large_one_rarely() {
        let s = Statistics::default();
        assert!(!s.wrote("t", MIN_WRITES - 1));
        assert!(s.wrote("t", 1), "the first {MIN_WRITES} writes make it due");
        // While it runs, no second one starts.
        assert!(!s.wrote("t", 10 * MIN_WRITES));
        s.analyzed();
        // The writes made meanwhile count towards the next one.
        assert!(s.wrote("t", 1));
        s.analyzed();
        // Grown to ~5,500: the next is due after a fifth of that.
        assert!(!s.wrote("t", 1_000));
        assert!(s.wrote("t", 200));
        s.analyzed();
        // Another tenant starts from zero.
        assert!(!s.wrote("u", MIN_WRITES - 1));
        assert!(s.wrote("u", 1));
    }
}
