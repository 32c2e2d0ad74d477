//! Restricted content (NDH STU1 usage restrictions, `meta.security` labels), black-box: the
//! leak probes. A tenant holds the NDH examples (a women's shelter restricted element by
//! element, the same shelter restricted whole, a military organization restricted whole, a
//! practitioner's home address) and an unrestricted twin of each (same values, no
//! restriction). Each channel is asked by an anonymous caller, a client the restrictions do
//! not admit, a client a provision permits, and a client with `see_restricted`: an unpermitted
//! caller must not be able to tell a restricted resource from one that does not exist (or, for
//! elements, from its twin without those elements), and the permitted ones see everything.
//! Once per backend.

mod common;

#[path = "auth/support.rs"]
#[allow(dead_code, reason = "shared with the authorization tests")]
mod support;

#[path = "restricted/fixture.rs"]
mod fixture;

#[path = "restricted/finder.rs"]
mod finder;
#[path = "restricted/reads.rs"]
mod reads;
#[path = "restricted/search.rs"]
mod search;
#[path = "restricted/writes.rs"]
mod writes;
