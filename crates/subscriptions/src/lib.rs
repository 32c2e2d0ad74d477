//! Topic-based Subscriptions, R4 Backport STU 1.1
//! (<https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/>), without I/O: the topics fhirdir
//! offers ([`topics`]), reading and checking a Subscription ([`subscription`]), evaluating its
//! filters against a resource version ([`filter`]), and the notification Bundles
//! ([`notification`]) and reading those another server sends ([`received`]). Delivery (the durable queue, rest-hook sends, retries) is the
//! services' `subscriptions` module; the events come from the store's change events.

pub mod filter;
pub mod notification;
pub mod received;
pub mod subscription;
pub mod topics;

pub use filter::{compile, CompiledFilter};
pub use subscription::{read, Payload, Spec, Status, SubscriptionError};
pub use topics::{Action, Topic};
