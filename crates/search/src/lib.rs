//! FHIR R4 search for fhirdir, with no I/O: query pairs become a typed [`SearchQuery`]
//! (<https://hl7.org/fhir/R4/search.html>), and FHIR JSON values become the [`IndexValue`]s
//! the store saves. The store turns both into SQL; this crate never sees a database.
//!
//! Modules: [`query`] (the request and result parameters), [`filter`] (criteria, modifiers,
//! chains, `_has`), [`value`] and [`date`] (typed values and their ranges), [`text`]
//! (escaping and string normalisation), [`index`] (FHIR values to index entries),
//! [`extract`] (whole resources to index entries, through FHIRPath; composite parameters
//! in [`composite`]), [`valueset`] (ValueSet expansion for `:in` / `:not-in`) and
//! [`hierarchy`] (CodeSystem hierarchies for token `:above` / `:below`); [`phonetic`]
//! (Soundex for the `phonetic` parameters); [`index_format`] (which binary's rows an index
//! holds).

pub mod composite;
pub mod date;
mod error;
pub mod extract;
pub mod filter;
pub mod hierarchy;
pub mod index;
pub mod index_format;
pub mod phonetic;
pub mod query;
pub mod text;
pub mod value;
pub mod valueset;

pub use date::{parse_date, DatePrecision, DateRange, DateValue};
pub use error::SearchError;
pub use extract::{extract, Extractor, IndexEntry};
pub use filter::{is_text_search, ChainTarget, Filter, Modifier, SearchValue};
pub use hierarchy::{Direction, Hierarchy, HierarchyRef};
pub use index::{index_values, IndexValue};
pub use index_format::{index_format, INDEX_FORMAT_URL};
pub use query::{
    Criterion, Include, SearchLimits, SearchQuery, SortKey, Summary, Total, UnknownParam,
};
pub use text::normalize_string;
pub use value::{
    Decimal, NearValue, OfTypeValue, Prefix, QuantityValue, ReferenceValue, TokenSystem, TokenValue,
};
pub use valueset::{Expansion, ValueSetRef};
