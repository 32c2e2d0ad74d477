-- fhirdir schema v17 (postgres): directory-to-directory federation, a tenant as the replica of an
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
    tenant       text    NOT NULL PRIMARY KEY,
    url          text    NOT NULL,
    types        text    NOT NULL,
    client_id    text,
    private_key  text,
    secret       text    NOT NULL,
    phase        text    NOT NULL,
    error        text,
    updated      bigint NOT NULL
);

CREATE TABLE upstream_feeds (
    tenant         text    NOT NULL,
    resource_type  text    NOT NULL,
    subscription   text    NOT NULL,
    applied        bigint NOT NULL,
    announced      bigint NOT NULL,
    committed_at   bigint,
    applied_at     bigint,
    pending_since  bigint,
    contact        bigint,
    PRIMARY KEY (tenant, resource_type)
);
