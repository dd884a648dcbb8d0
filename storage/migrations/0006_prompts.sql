-- Prompts (issue 12): what the bot waits for from a person now also holds a typed answer kept
-- until its writer, who answers for several schools, picks the school ('school', its text in
-- `text`). A prompt's age decides when it expires; the scheduler looks them up by kind and age.

CREATE TABLE pending_inputs_v2 (
    vk_id       INTEGER NOT NULL,
    peer_id     INTEGER NOT NULL,
    campaign_id TEXT NOT NULL,
    school_id   TEXT NOT NULL,
    step_id     TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('reason', 'counts', 'school')),
    created_at  TEXT NOT NULL,
    text        TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (vk_id, peer_id)
) WITHOUT ROWID;

INSERT INTO pending_inputs_v2
    (vk_id, peer_id, campaign_id, school_id, step_id, kind, created_at)
SELECT vk_id, peer_id, campaign_id, school_id, step_id, kind, created_at FROM pending_inputs;

DROP TABLE pending_inputs;

ALTER TABLE pending_inputs_v2 RENAME TO pending_inputs;

CREATE INDEX pending_inputs_by_age ON pending_inputs(kind, created_at);

-- When a stranger (nobody of the roster, not staff) was last told who the bot is, per
-- conversation: once a day, not on every message.
CREATE TABLE strangers_told (
    vk_id   INTEGER NOT NULL,
    peer_id INTEGER NOT NULL,
    told_at TEXT NOT NULL,
    PRIMARY KEY (vk_id, peer_id)
) WITHOUT ROWID
