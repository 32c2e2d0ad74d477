-- fhirdir schema v11 (Postgres): authorization (SMART Backend Services and UDAP).
--
-- tenant_access      a tenant's access policy; no row means the default (anonymous read).
-- auth_signing_keys  the keys that sign a tenant's access tokens (ES256, PKCS#8 DER in
--                    base64). A rotated key keeps its row with `retired_at` set, so tokens it
--                    signed verify until they expire.
-- auth_clients       registered clients: by the operator (SMART, a JWK Set) or by UDAP
--                    dynamic registration (a certificate). `record` is the client as JSON;
--                    `community`/`iss` identify a UDAP registration (one per issuer and
--                    community, FAST Security STU2 §3.1).
-- udap_communities   the trust communities a tenant takes part in; `record` holds the anchors,
--                    the server's certificate chain and its private key (never shown).
-- auth_jti           client-assertion ids seen, until they expire (RFC 7523 §3 item 7).
-- auth_events        registrations, tokens issued and refused, access denied: what AuditEvent
--                    will publish.
-- Keys begin with the tenant; no foreign keys (DESIGN.md section 3). Times: epoch microseconds.
CREATE TABLE tenant_access (
    tenant          text    NOT NULL PRIMARY KEY,
    anonymous_read  boolean NOT NULL
);

CREATE TABLE auth_signing_keys (
    tenant       text   NOT NULL,
    kid          text   NOT NULL,
    private_key  text   NOT NULL,
    created_at   bigint NOT NULL,
    retired_at   bigint,
    PRIMARY KEY (tenant, kid)
);

CREATE TABLE auth_clients (
    tenant      text   NOT NULL,
    client_id   text   NOT NULL,
    community   text,
    iss         text,
    record      text   NOT NULL,
    created_at  bigint NOT NULL,
    updated_at  bigint NOT NULL,
    PRIMARY KEY (tenant, client_id)
);

CREATE UNIQUE INDEX auth_clients_udap ON auth_clients (tenant, community, iss)
    WHERE iss IS NOT NULL;

CREATE TABLE udap_communities (
    tenant      text   NOT NULL,
    name        text   NOT NULL,
    record      text   NOT NULL,
    created_at  bigint NOT NULL,
    PRIMARY KEY (tenant, name)
);

CREATE TABLE auth_jti (
    tenant      text   NOT NULL,
    iss         text   NOT NULL,
    jti         text   NOT NULL,
    expires_at  bigint NOT NULL,
    PRIMARY KEY (tenant, iss, jti)
);

CREATE TABLE auth_events (
    tenant     text   NOT NULL,
    seq        bigserial,
    at         bigint NOT NULL,
    event      text   NOT NULL,
    client_id  text,
    outcome    text   NOT NULL,
    reason     text,
    PRIMARY KEY (tenant, seq)
);
