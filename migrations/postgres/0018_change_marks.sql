-- fhirdir schema v18 (postgres): commit-ordered times on change events, for exact `_since`.
--
-- change_counters.noted  the time of the tenant's last change or mark, taken under the counter
--                        row's lock at the end of each write transaction and never going back
--                        (each new value is above the last), so it orders like the numbers.
-- change_events.noted    that time for the event (NULL for events written before v18).
--
-- A bulk export takes a mark (the counter's number and a new `noted`) as its transactionTime:
-- every event at or before it has committed, and every later one gets a later `noted`. A
-- `_since` export then finds the writes that committed after an instant although their
-- lastUpdated (taken when the write began) is before it: events whose `noted` is after the
-- instant and whose `at` is not.
ALTER TABLE change_counters ADD COLUMN noted bigint NOT NULL DEFAULT 0;
ALTER TABLE change_events ADD COLUMN noted bigint;
