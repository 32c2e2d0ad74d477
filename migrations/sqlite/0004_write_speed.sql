-- fhirdir schema v4 (SQLite): nothing to change. The Postgres migration of the same number
-- gives its key columns byte-order collation and its resource bodies lz4 compression;
-- SQLite compares text in byte order already and does not compress. Kept so both backends
-- have the same schema versions.
SELECT 1;
