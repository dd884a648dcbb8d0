-- confirmbot schema, version 1. Times are ISO 8601 text in UTC.

CREATE TABLE campaigns (
    id           TEXT PRIMARY KEY,
    title        TEXT NOT NULL,
    number       TEXT NOT NULL,
    date         TEXT NOT NULL,
    issuer       TEXT NOT NULL DEFAULT '',
    deadline     TEXT NOT NULL,
    timezone     TEXT NOT NULL,
    definition   TEXT NOT NULL,
    announced_at TEXT,
    created_at   TEXT NOT NULL
);

CREATE TABLE steps (
    campaign_id TEXT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    step_id     TEXT NOT NULL,
    position    INTEGER NOT NULL,
    title       TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('confirm', 'count')),
    PRIMARY KEY (campaign_id, step_id)
) WITHOUT ROWID;

CREATE TABLE schools (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE people (
    vk_id     INTEGER NOT NULL,
    school_id TEXT NOT NULL REFERENCES schools(id) ON DELETE CASCADE,
    full_name TEXT NOT NULL,
    role      TEXT NOT NULL CHECK (role IN ('head', 'deputy')),
    PRIMARY KEY (vk_id, school_id)
) WITHOUT ROWID;

CREATE INDEX people_by_school ON people(school_id);

-- Append-only history: every answer ever given, never updated or deleted.
CREATE TABLE answers (
    id          INTEGER PRIMARY KEY,
    campaign_id TEXT NOT NULL,
    school_id   TEXT NOT NULL REFERENCES schools(id),
    step_id     TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('done', 'in_progress', 'problem')),
    reason      TEXT NOT NULL DEFAULT '',
    answered_by INTEGER NOT NULL,
    answered_at TEXT NOT NULL,
    late        INTEGER NOT NULL CHECK (late IN (0, 1)),
    source      TEXT NOT NULL CHECK (source IN ('button', 'text', 'admin')),
    origin      TEXT NOT NULL DEFAULT '',
    FOREIGN KEY (campaign_id, step_id) REFERENCES steps(campaign_id, step_id)
);

CREATE INDEX answers_by_school ON answers(campaign_id, school_id, step_id, id);

CREATE TABLE answer_counts (
    answer_id INTEGER NOT NULL REFERENCES answers(id),
    part      TEXT NOT NULL,
    position  INTEGER NOT NULL,
    done      INTEGER NOT NULL CHECK (done >= 0),
    total     INTEGER NOT NULL CHECK (total >= done),
    PRIMARY KEY (answer_id, part)
) WITHOUT ROWID;

-- The latest answer per school and step, kept in the same transaction as the history row,
-- so that status over thousands of schools is a few indexed aggregate queries.
CREATE TABLE current_answers (
    campaign_id TEXT NOT NULL,
    school_id   TEXT NOT NULL,
    step_id     TEXT NOT NULL,
    answer_id   INTEGER NOT NULL REFERENCES answers(id),
    state       TEXT NOT NULL,
    PRIMARY KEY (campaign_id, school_id, step_id)
) WITHOUT ROWID;

CREATE INDEX current_by_step_state ON current_answers(campaign_id, step_id, state);

-- Item 4.2 of the order: who has acknowledged it.
CREATE TABLE acknowledgements (
    campaign_id     TEXT NOT NULL REFERENCES campaigns(id),
    vk_id           INTEGER NOT NULL,
    acknowledged_at TEXT NOT NULL,
    PRIMARY KEY (campaign_id, vk_id)
) WITHOUT ROWID;

-- VK event_ids already handled: a replayed update must never count twice.
CREATE TABLE processed_events (
    event_id     TEXT PRIMARY KEY,
    processed_at TEXT NOT NULL
) WITHOUT ROWID;

-- People VK refused to message privately (error 901) until they write to the community.
CREATE TABLE private_unreachable (
    vk_id INTEGER PRIMARY KEY,
    since TEXT NOT NULL
);

-- What the bot waits for from a person after a button: a problem's reason or a step's numbers.
CREATE TABLE pending_inputs (
    vk_id       INTEGER NOT NULL,
    peer_id     INTEGER NOT NULL,
    campaign_id TEXT NOT NULL,
    school_id   TEXT NOT NULL,
    step_id     TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('reason', 'counts')),
    created_at  TEXT NOT NULL,
    PRIMARY KEY (vk_id, peer_id)
) WITHOUT ROWID;
