-- fhirdir schema v17 (sqlite): directory-to-directory federation, a tenant as the replica of an
-- upstream FHIR directory.
--
-- tenant_upstreams  one row per replica tenant: the upstream's FHIR base, the resource types
--                   copied (comma-separated), the SMART backend client id and private key
--                   (PEM) for an upstream that wants a token, the secret the upstream sends
--                   back with every notification (a channel header of our Subscriptions),
--                   the phase (subscribe, seed, follow), the last error, and when the setting
--                   was written.
-- upstream_feeds    one row per copied type: our Subscription on the upstream (absolute URL),
--                   the last of its events applied here, the count the upstream last
--                   announced (events-since-subscription-start), when the last event applied
--                   was committed upstream and applied here, the upstream commit time of the
--                   oldest event announced but not applied, and when the upstream last
--                   reached us (notification or heartbeat).
-- Keys begin with the tenant; no foreign keys (DESIGN.md section 3). Times: epoch microseconds.
CREATE TABLE tenant_upstreams (
    tenant       TEXT    NOT NULL PRIMARY KEY,
    url          TEXT    NOT NULL,
    types        TEXT    NOT NULL,
    client_id    TEXT,
    private_key  TEXT,
    secret       TEXT    NOT NULL,
    phase        TEXT    NOT NULL,
    error        TEXT,
    updated      INTEGER NOT NULL
);

CREATE TABLE upstream_feeds (
    tenant         TEXT    NOT NULL,
    resource_type  TEXT    NOT NULL,
    subscription   TEXT    NOT NULL,
    applied        INTEGER NOT NULL,
    announced      INTEGER NOT NULL,
    committed_at   INTEGER,
    applied_at     INTEGER,
    pending_since  INTEGER,
    contact        INTEGER,
    PRIMARY KEY (tenant, resource_type)
);
