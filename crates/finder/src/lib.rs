//! The pure core of `$find-providers` (issue 20, "Provider finder"): ranked in-network
//! provider search over a tenant's Da Vinci PDex Plan-Net data
//! (<http://hl7.org/fhir/us/davinci-pdex-plan-net/>).
//!
//! This crate decides *what was asked* and *how results are ordered*; it never sees storage
//! or HTTP (like the `search` and `restrict` crates). The server parses the request with
//! [`FindQuery::parse`] (a [`QueryError`] is a 400 OperationOutcome); the store finds the
//! qualifying providers, pre-filtering the area with [`FindQuery::bbox`] and measuring each
//! address with [`miles_between`], and describes each as a [`Candidate`] (how its name
//! matched, by [`name_match`]; how its specialty matched; its closest distance); [`rank()`]
//! scores and orders them, the score becoming `Bundle.entry.search.score`; page links come
//! from [`FindQuery::link_pairs`] plus `_offset`. [`parse_duration`] reads the operator's
//! `--stale-after`.
//!
//! Modules, one concern each:
//! - [`query`]: the parameters, checked strictly (with [`centre`], [`target`], [`specialty`],
//!   [`language`] for the values that need more than a match; `values` for lists and escapes);
//! - [`names`]: name normalization, American Soundex, pg_trgm-style trigram similarity, and
//!   the [`NameMatch`] levels;
//! - [`distance`]: haversine miles and the bounding box;
//! - [`mod@rank`]: the weights (a table in its documentation) and the result order;
//! - [`duration`]: `90d`-style durations.
//!
//! Distances are miles throughout (`radius=40km` is converted on the way in).

pub mod assemble;
pub mod centre;
pub mod distance;
pub mod duration;
mod error;
pub mod language;
pub mod names;
pub mod plan_net;
pub mod prerank;
pub mod query;
pub mod rank;
pub mod specialty;
pub mod target;
mod values;

pub use assemble::{assemble, Found, FoundNetwork, Resources, RoleHit, Site};
pub use centre::{Centre, CentreFrom};
pub use distance::{bbox, miles_between, EARTH_RADIUS_MILES, KM_PER_MILE};
pub use duration::{parse_duration, DEFAULT_STALE_AFTER, DEFAULT_STALE_AFTER_DURATION};
pub use error::QueryError;
pub use language::language_matches;
pub use names::{name_match, normalize_name, soundex, trigram_similarity, NameMatch};
pub use prerank::{prerank, RoleSite};
pub use query::{
    FindQuery, ProviderType, Sort, DEFAULT_COUNT, DEFAULT_RADIUS_MILES, MAX_COUNT, MAX_RADIUS_MILES,
};
pub use rank::{rank, score, Candidate, Criteria, Ranked, SpecialtyMatch};
pub use specialty::{SpecialtyWanted, NUCC_SYSTEM};
pub use target::Target;
pub use values::MAX_LIST_VALUES;
