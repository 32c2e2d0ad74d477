//! The OperationDefinition of `$find-providers`, served at
//! `[base]/OperationDefinition/find-providers` and named in the CapabilityStatement
//! (<https://hl7.org/fhir/R4/operationdefinition.html>).

use serde_json::{json, Value};

use super::response::MATCH_EXTENSION;

/// The canonical URL of the definition.
pub const DEFINITION_URL: &str = "urn:fhirdir:OperationDefinition:find-providers";

fn param(name: &str, kind: &str, max: &str, doc: &str) -> Value {
    json!({"name": name, "use": "in", "min": 0, "max": max, "type": kind, "documentation": doc})
}

/// The definition, as JSON.
#[must_use]
pub fn definition() -> Value {
    json!({
        "resourceType": "OperationDefinition",
        "id": "find-providers",
        "url": DEFINITION_URL,
        "name": "FindProviders",
        "title": "Find in-network providers, ranked",
        "status": "active",
        "kind": "operation",
        "code": "find-providers",
        "system": true,
        "type": false,
        "instance": false,
        "affectsState": false,
        "description": format!(
            "Ranked search for practitioners (through PractitionerRole), facilities and \
             pharmacies (through OrganizationAffiliation) over Da Vinci PDex Plan-Net data. \
             A provider qualifies through an active role in one of the requested networks (any \
             network when none is requested) at a site within the radius. Unknown parameters, \
             repeated single-valued ones and malformed values are refused with 400. The result \
             is a searchset Bundle: one match entry per provider with search.score and the \
             extension {MATCH_EXTENSION} on entry.search (distance: the closest qualifying \
             site, in miles; nameMatch: exact | prefix | phonetic | similar; specialtyMatch: \
             role | qualification; one inNetwork per network with network, lastImported, \
             stale and the network's sites; one site per unique site, each with location, \
             address, distance and acceptingNewPatients), then include entries for the roles \
             and sites used. Ranking: score = weighted mean over the asked criteria of name \
             closeness (0.60: exact 1, prefix 0.8, phonetic 0.6, similar 0.4), specialty \
             (0.25: role 1, qualification 0.5) and distance (0.15: 1 - d/radius); sort=distance \
             orders by distance first. Paging with _offset and _count."
        ),
        "parameter": [
            param("name", "string", "1", "Practitioner or organization name; fuzzy: found when a name part begins with its longest word, has that word's Soundex code, or begins with its first three letters; then ranked exact, prefix, phonetic, trigram-similar"),
            param("specialty", "string", "1", "NUCC taxonomy code (e.g. 207RC0000X) or display text"),
            param("network", "string", "*", "Organization/id or system|value of a network; comma-separated or repeated values mean any of them"),
            param("plan", "string", "*", "InsurancePlan/id or system|value; a plan stands for its networks"),
            param("near", "string", "1", "lat|lon of the centre"),
            param("zip", "string", "1", "US ZIP code of the centre (built-in table)"),
            param("city", "string", "1", "city of the centre, with state"),
            param("state", "string", "1", "two-letter state of city"),
            param("radius", "string", "1", "miles (10, 10mi) or kilometres (40km); default 25"),
            param("accepting-new-patients", "boolean", "1", "true: only sites where the role accepts new patients"),
            param("language", "string", "*", "BCP 47 tags; a provider speaking any of them"),
            param("type", "code", "1", "individual | facility | pharmacy"),
            param("sort", "code", "1", "best_match (default) | distance"),
            param("_count", "integer", "1", "page size, 1..100, default 20"),
            param("_offset", "integer", "1", "results to skip"),
            {"name": "return", "use": "out", "min": 1, "max": "1", "type": "Bundle",
             "documentation": "searchset Bundle of the providers found, ranked"},
        ],
    })
}
