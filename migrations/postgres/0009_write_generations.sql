-- fhirdir schema v9: how many write transactions each tenant has committed.
--
-- Every transaction that changes a tenant's resources or index rows adds 1 to one of the
-- tenant's rows here before it commits (store::search::count_cache). A search reads the sum
-- in the snapshot it counts in, so an accurate count can be reused by a later search that
-- reads the same sum: with every committed write adding 1, an equal sum means no write
-- committed in between, in this process or any other. Several rows per tenant (a stripe per
-- connection) so that concurrent writers do not queue on one row lock at commit.
-- `delete_tenant` leaves the rows (and adds 1), so a tenant created again under the same
-- name never repeats an earlier sum.
CREATE TABLE write_generations (
    tenant TEXT COLLATE "C" NOT NULL,
    stripe INTEGER NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (tenant, stripe)
);
