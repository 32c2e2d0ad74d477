-- fhirdir schema v12 (postgres): restricted content (NDH STU1 usage restrictions, meta.security).
--
-- restrictions            the policy of each restricted resource (restrict::Restrictions as
--                         JSON), computed when it is written, with its two gates (the whole
--                         resource; all its restricted elements together): access 1 any
--                         client, 2 provisions decide, 3 see_restricted clients only. A
--                         deleted resource keeps its row, so its history stays hidden.
-- restricted_params       the search parameters whose index rows of a resource come (partly)
--                         from restricted elements: for a viewer the element gate refuses, the
--                         resource does not match on them.
-- restriction_provisions  the provisions of gates with access 2: one row per provision,
--                         actor and purpose (NULL: any purpose); gate 0 whole, 1 elements.
-- restriction_cites       which resources cite a stored Restriction (Consent), to recompute
--                         them when it changes.
-- Keys begin with the tenant; no foreign keys (DESIGN.md section 3). Key columns compare in
-- byte order (COLLATE "C", migration 0004) like the columns they are compared with: with another
-- collation Postgres cannot use these keys for `restrictions.id = resources.id`.
CREATE TABLE restrictions (
    tenant          text COLLATE "C" NOT NULL,
    res_type        text COLLATE "C" NOT NULL,
    id              text COLLATE "C" NOT NULL,
    policy          text NOT NULL,
    whole_access    bigint NOT NULL,
    whole_rules     bigint NOT NULL,
    element_access  bigint NOT NULL,
    element_rules   bigint NOT NULL,
    PRIMARY KEY (tenant, res_type, id)
);

CREATE TABLE restricted_params (
    tenant    text COLLATE "C" NOT NULL,
    res_type  text COLLATE "C" NOT NULL,
    id        text COLLATE "C" NOT NULL,
    param     text COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, res_type, id, param)
);
-- Searches ask by parameter: does any resource of the type have it restricted, is this one's.
CREATE INDEX restricted_params_param ON restricted_params (tenant, res_type, param, id);

CREATE TABLE restriction_provisions (
    tenant    text COLLATE "C" NOT NULL,
    res_type  text COLLATE "C" NOT NULL,
    id        text COLLATE "C" NOT NULL,
    gate      bigint NOT NULL,
    rule      bigint NOT NULL,
    permit    boolean NOT NULL,
    actor     text COLLATE "C" NOT NULL,
    purpose   text COLLATE "C"
);
CREATE INDEX restriction_provisions_resource
    ON restriction_provisions (tenant, res_type, id, gate, actor);

CREATE TABLE restriction_cites (
    tenant      text COLLATE "C" NOT NULL,
    consent_id  text COLLATE "C" NOT NULL,
    res_type    text COLLATE "C" NOT NULL,
    id          text COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, consent_id, res_type, id)
);
CREATE INDEX restriction_cites_resource ON restriction_cites (tenant, res_type, id);

-- A tenant's restriction settings (restrict::Settings as JSON: which meta.security
-- confidentiality codes restrict); no row: the defaults (R and V).
CREATE TABLE tenant_restriction_settings (
    tenant    text COLLATE "C" NOT NULL PRIMARY KEY,
    settings  text NOT NULL
);
