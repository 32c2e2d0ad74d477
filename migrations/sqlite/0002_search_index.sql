-- fhirdir schema v2 (SQLite): search index tables, one per search parameter type
-- (https://hl7.org/fhir/R4/search.html#ptypes). Same shape as the Postgres migration.
--
-- Every table holds the index rows of the CURRENT version of each live resource: the write
-- transaction replaces them on update and removes them on delete. Rows are keyed by
-- (tenant, res_type, param), then the value, then the resource id; `param` is the search
-- parameter's code. No primary keys (a resource may index the same value twice; the writer
-- de-duplicates), no foreign keys, and every index begins with `tenant` (DESIGN.md section 3).
--
-- String matching: `value_norm` is case- and accent-folded (search::normalize_string), so the
-- default "starts with" search is the range `value_norm >= 'abc' AND value_norm < 'abd'`,
-- which uses the index (SQLite's LIKE is case-insensitive and would not). `:contains` is a
-- plain `LIKE '%abc%'` scan over the parameter's rows on SQLite.
-- Each table's `*_resource` index (tenant, res_type, id, param) serves per-resource lookups:
-- replacing and deleting rows, `:not` / `:missing=true`, and `_sort` keys.
-- Dates are [low, high) ranges in epoch microseconds; numbers and quantities [low, high)
-- ranges of doubles (the value's implicit precision).

CREATE TABLE search_string (
    tenant      TEXT NOT NULL,
    res_type    TEXT NOT NULL,
    param       TEXT NOT NULL,
    value_norm  TEXT NOT NULL,
    value_exact TEXT NOT NULL,
    id          TEXT NOT NULL
);
CREATE INDEX search_string_value ON search_string (tenant, res_type, param, value_norm, id);
CREATE INDEX search_string_exact ON search_string (tenant, res_type, param, value_exact);
CREATE INDEX search_string_resource ON search_string (tenant, res_type, id, param);

-- Codes, identifiers, contact points, booleans. `display` is the normalised text `:text`
-- searches (Coding.display, CodeableConcept.text, Identifier.type.text).
CREATE TABLE search_token (
    tenant      TEXT NOT NULL,
    res_type    TEXT NOT NULL,
    param       TEXT NOT NULL,
    system      TEXT,
    code        TEXT,
    display     TEXT,
    id          TEXT NOT NULL
);
CREATE INDEX search_token_code ON search_token (tenant, res_type, param, code, system, id);
CREATE INDEX search_token_system ON search_token (tenant, res_type, param, system);
CREATE INDEX search_token_resource ON search_token (tenant, res_type, id, param);

-- Identifier type + value, for token `:of-type`.
CREATE TABLE search_identifier_type (
    tenant      TEXT NOT NULL,
    res_type    TEXT NOT NULL,
    param       TEXT NOT NULL,
    type_system TEXT,
    type_code   TEXT NOT NULL,
    value       TEXT NOT NULL,
    id          TEXT NOT NULL
);
CREATE INDEX search_identifier_type_value
    ON search_identifier_type (tenant, res_type, param, value, type_code);
CREATE INDEX search_identifier_type_resource ON search_identifier_type (tenant, res_type, id, param);

-- Literal references (target_type/target_id, or url when absolute/canonical) and logical
-- ones (identifier_*). The target index serves `_has`, `_revinclude` and chains.
CREATE TABLE search_reference (
    tenant              TEXT NOT NULL,
    res_type            TEXT NOT NULL,
    param               TEXT NOT NULL,
    target_type         TEXT,
    target_id           TEXT,
    version             TEXT,
    url                 TEXT,
    identifier_system   TEXT,
    identifier_value    TEXT,
    id                  TEXT NOT NULL
);
CREATE INDEX search_reference_target
    ON search_reference (tenant, res_type, param, target_id, target_type, id);
CREATE INDEX search_reference_reverse
    ON search_reference (tenant, target_type, target_id, res_type, param);
CREATE INDEX search_reference_url ON search_reference (tenant, res_type, param, url);
CREATE INDEX search_reference_identifier
    ON search_reference (tenant, res_type, param, identifier_value);
CREATE INDEX search_reference_resource ON search_reference (tenant, res_type, id, param);

CREATE TABLE search_date (
    tenant      TEXT    NOT NULL,
    res_type    TEXT    NOT NULL,
    param       TEXT    NOT NULL,
    low         INTEGER NOT NULL,
    high        INTEGER NOT NULL,
    id          TEXT    NOT NULL
);
CREATE INDEX search_date_low ON search_date (tenant, res_type, param, low, high, id);
CREATE INDEX search_date_high ON search_date (tenant, res_type, param, high);
CREATE INDEX search_date_resource ON search_date (tenant, res_type, id, param);

CREATE TABLE search_number (
    tenant      TEXT NOT NULL,
    res_type    TEXT NOT NULL,
    param       TEXT NOT NULL,
    value       REAL NOT NULL,
    low         REAL NOT NULL,
    high        REAL NOT NULL,
    id          TEXT NOT NULL
);
CREATE INDEX search_number_low ON search_number (tenant, res_type, param, low, high, id);
CREATE INDEX search_number_resource ON search_number (tenant, res_type, id, param);

-- Quantity, Money (system urn:iso:std:iso:4217) and Range (value NULL, low/high its bounds).
CREATE TABLE search_quantity (
    tenant      TEXT NOT NULL,
    res_type    TEXT NOT NULL,
    param       TEXT NOT NULL,
    system      TEXT,
    code        TEXT,
    unit        TEXT,
    value       REAL,
    low         REAL NOT NULL,
    high        REAL NOT NULL,
    id          TEXT NOT NULL
);
CREATE INDEX search_quantity_low ON search_quantity (tenant, res_type, param, low, high, id);
CREATE INDEX search_quantity_resource ON search_quantity (tenant, res_type, id, param);

CREATE TABLE search_uri (
    tenant      TEXT NOT NULL,
    res_type    TEXT NOT NULL,
    param       TEXT NOT NULL,
    value       TEXT NOT NULL,
    id          TEXT NOT NULL
);
CREATE INDEX search_uri_value ON search_uri (tenant, res_type, param, value, id);
CREATE INDEX search_uri_resource ON search_uri (tenant, res_type, id, param);

-- Location.position, for `near`: a bounding-box prefilter on (lat, lon), then distance.
CREATE TABLE search_geo (
    tenant      TEXT NOT NULL,
    res_type    TEXT NOT NULL,
    param       TEXT NOT NULL,
    lat         REAL NOT NULL,
    lon         REAL NOT NULL,
    id          TEXT NOT NULL
);
CREATE INDEX search_geo_position ON search_geo (tenant, res_type, param, lat, lon, id);
CREATE INDEX search_geo_resource ON search_geo (tenant, res_type, id, param);
