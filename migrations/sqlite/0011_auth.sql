-- fhirdir schema v11 (SQLite): authorization (SMART Backend Services and UDAP).
--
-- See migrations/postgres/0011_auth.sql for what each table holds.
CREATE TABLE tenant_access (
    tenant          TEXT    NOT NULL PRIMARY KEY,
    anonymous_read  INTEGER NOT NULL
);

CREATE TABLE auth_signing_keys (
    tenant       TEXT    NOT NULL,
    kid          TEXT    NOT NULL,
    private_key  TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    retired_at   INTEGER,
    PRIMARY KEY (tenant, kid)
);

CREATE TABLE auth_clients (
    tenant      TEXT    NOT NULL,
    client_id   TEXT    NOT NULL,
    community   TEXT,
    iss         TEXT,
    record      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant, client_id)
);

CREATE UNIQUE INDEX auth_clients_udap ON auth_clients (tenant, community, iss)
    WHERE iss IS NOT NULL;

CREATE TABLE udap_communities (
    tenant      TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    record      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant, name)
);

CREATE TABLE auth_jti (
    tenant      TEXT    NOT NULL,
    iss         TEXT    NOT NULL,
    jti         TEXT    NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant, iss, jti)
);

-- `seq` is the rowid: it grows across tenants, which is all the order needs.
CREATE TABLE auth_events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant     TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    event      TEXT    NOT NULL,
    client_id  TEXT,
    outcome    TEXT    NOT NULL,
    reason     TEXT
);

CREATE INDEX auth_events_tenant ON auth_events (tenant, seq);
