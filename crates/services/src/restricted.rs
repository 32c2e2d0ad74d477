//! Writes over restricted content (NDH STU1 usage restrictions; the rule itself is
//! [`restrict::visibility`], applied to reads and searches inside the store).
//!
//! A caller may not change what it cannot see:
//! - a resource hidden from it is answered exactly as an id that does not exist: an update or
//!   patch gets 404 (a PUT that would create is refused the same way rather than overwriting
//!   the hidden resource), a delete gets the missing-id answer and deletes nothing;
//! - a resource with elements hidden from it cannot be updated or patched (403): the caller
//!   would write back a copy without those elements, or probe them with a patch `test`. It may
//!   delete it (it sees the resource exists; deleting loses no content it could not see
//!   anyway: the versions stay in history, hidden as before).
//!
//! fhirdir itself and clients with `see_restricted` pass without a lookup.

use search::Extractor;
use store::{DeleteOutcome, Precondition, StoreTx};

use crate::error::{Error, Result};
use crate::RequestCtx;

/// What the caller sees of the resource it is about to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// All of it, or it is unrestricted or absent.
    Whole,
    /// Nothing: it does not exist for the caller.
    Hidden,
    /// Some elements are hidden from it.
    Partly,
}

/// What `ctx`'s caller sees of `rtype/id` as `tx` holds it.
pub(crate) async fn seen(
    ctx: &RequestCtx,
    tx: &mut StoreTx,
    rtype: &str,
    id: &str,
) -> Result<Seen> {
    let viewer = ctx.viewer();
    if viewer.sees_everything() {
        return Ok(Seen::Whole);
    }
    let Some(policy) = tx.policy(rtype, id).await? else {
        return Ok(Seen::Whole);
    };
    Ok(match restrict::visibility(&policy, &viewer) {
        restrict::Visibility::Whole => Seen::Whole,
        restrict::Visibility::Hidden => Seen::Hidden,
        restrict::Visibility::Redacted(_) => Seen::Partly,
    })
}

/// For an update or patch of `rtype/id`: an error unless the caller sees all of it.
pub(crate) async fn may_overwrite(
    ctx: &RequestCtx,
    tx: &mut StoreTx,
    rtype: &str,
    id: &str,
) -> Result<()> {
    match seen(ctx, tx, rtype, id).await? {
        Seen::Whole => Ok(()),
        Seen::Hidden => Err(not_known(rtype, id)),
        // A Subscription's one hidden element is its channel headers, which a write that
        // gives none keeps (the write pipeline's rule), and only its owner writes it.
        Seen::Partly if rtype == writes::SUBSCRIPTION => Ok(()),
        Seen::Partly => Err(Error::forbidden(format!(
            "{rtype}/{id} has restricted elements you may not see; writing it would remove \
             them, so it can only be updated by a client that sees all of it"
        ))),
    }
}

/// Deletes `rtype/id` in `tx` as `ctx`'s caller may: a resource hidden from it is deleted as
/// an id that does not exist is (not at all, [`DeleteOutcome::NotFound`]).
pub(crate) async fn delete(
    ctx: &RequestCtx,
    tx: &mut StoreTx,
    rtype: &str,
    id: &str,
    precondition: Precondition,
    extractor: &Extractor,
) -> Result<DeleteOutcome> {
    if seen(ctx, tx, rtype, id).await? == Seen::Hidden {
        return Ok(DeleteOutcome::NotFound);
    }
    Ok(writes::delete(tx, rtype, id, precondition, extractor).await?)
}

/// The answer for an id that does not exist, on every path (read, update, patch, and a
/// resource hidden from the caller).
pub(crate) fn not_known(rtype: &str, id: &str) -> Error {
    Error::not_found(format!("{rtype}/{id} is not known"))
}
