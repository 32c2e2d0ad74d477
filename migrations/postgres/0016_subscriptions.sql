-- fhirdir schema v16 (Postgres): delivery state of topic-based Subscriptions (R4 Backport STU 1.1).
--
-- subscription_state   one row per Subscription a client wrote (fhirdir's own writes, an
--                      import among them, create none: an imported Subscription stays inert):
--                      who owns it (`owner`, the change events' agent form), the last change
--                      event examined for it (`position`), how many events it has numbered
--                      (`events_since_start`), the status the server keeps (requested,
--                      active, error, off), the current failure streak and the next attempt,
--                      the last notification sent, the heartbeat period last read from the
--                      Subscription (seconds), and the error.
-- subscription_events  the events numbered for a subscription: its number, the change event's
--                      number, for `$events` replay.
-- Keys begin with the tenant; no foreign keys (DESIGN.md section 3). Times: epoch microseconds.
CREATE TABLE subscription_state (
    tenant              text    NOT NULL,
    id                  text    NOT NULL,
    owner               text    NOT NULL,
    position            bigint  NOT NULL,
    events_since_start  bigint  NOT NULL,
    status              text    NOT NULL,
    failing_since       bigint ,
    next_attempt        bigint  NOT NULL,
    last_sent           bigint  NOT NULL,
    heartbeat_secs      bigint,
    error               text,
    PRIMARY KEY (tenant, id)
);

CREATE TABLE subscription_events (
    tenant           text    NOT NULL,
    subscription_id  text    NOT NULL,
    number           bigint  NOT NULL,
    event_no         bigint  NOT NULL,
    PRIMARY KEY (tenant, subscription_id, number)
);
