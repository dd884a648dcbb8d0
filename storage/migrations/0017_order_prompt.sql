-- Several open orders (issue 14): a typed answer whose step is in two open orders waits for
-- its writer to choose the order, as an answer of a person of two schools waits for the
-- school. SQLite cannot change a CHECK, so the table is rebuilt with the new kind 'order'.

CREATE TABLE pending_inputs_v3 (
    person_id   INTEGER NOT NULL,
    peer_id     INTEGER NOT NULL,
    campaign_id TEXT NOT NULL,
    school_id   TEXT NOT NULL,
    step_id     TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('reason', 'counts', 'school', 'order')),
    created_at  TEXT NOT NULL,
    text        TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (person_id, peer_id)
) WITHOUT ROWID;

INSERT INTO pending_inputs_v3
    (person_id, peer_id, campaign_id, school_id, step_id, kind, created_at, text)
SELECT person_id, peer_id, campaign_id, school_id, step_id, kind, created_at, text
FROM pending_inputs;

DROP TABLE pending_inputs;

ALTER TABLE pending_inputs_v3 RENAME TO pending_inputs;

CREATE INDEX pending_inputs_by_age ON pending_inputs(kind, created_at);
