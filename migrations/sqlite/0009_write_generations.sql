-- fhirdir schema v9: how many write transactions each tenant has committed.
--
-- See migrations/postgres/0009_write_generations.sql. SQLite has one writer at a time, so
-- every transaction adds to stripe 0.
CREATE TABLE write_generations (
    tenant TEXT NOT NULL,
    stripe INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (tenant, stripe)
);
