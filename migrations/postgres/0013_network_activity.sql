-- fhirdir schema v13 (postgres): when each network of a tenant last changed, for the provider
-- finder's "last imported" date and stale flag ($find-providers).
--
-- network_activity  one row per network (`Organization/id`): the latest last_updated
--                   (epoch microseconds) of the network Organization itself or of any
--                   resource written citing it (a role, affiliation or plan), by the API,
--                   a Bundle or `fhirdir import`. Kept by the write pipeline in the
--                   write's transaction.
-- Keys begin with the tenant; no foreign keys (DESIGN.md section 3).
CREATE TABLE network_activity (
    tenant        TEXT NOT NULL,
    network       TEXT NOT NULL,
    last_written  BIGINT NOT NULL,
    PRIMARY KEY (tenant, network)
);
