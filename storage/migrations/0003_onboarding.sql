-- Onboarding: registration codes, people who registered themselves, chats bound by admins,
-- chat members seen by the bot (step 3.3), roster screen names still to resolve.

ALTER TABLE people ADD COLUMN source TEXT NOT NULL DEFAULT 'roster'
    CHECK (source IN ('roster', 'registration'));

ALTER TABLE people ADD COLUMN registered_at TEXT;

CREATE TABLE registration_codes (
    school_id   TEXT PRIMARY KEY REFERENCES schools(id) ON DELETE CASCADE,
    code        TEXT NOT NULL UNIQUE,
    campaign_id TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
) WITHOUT ROWID;

-- Every attempt to register, kept to limit guessing per person and in total.
CREATE TABLE registration_attempts (
    id    INTEGER PRIMARY KEY,
    vk_id INTEGER NOT NULL,
    at    TEXT NOT NULL,
    ok    INTEGER NOT NULL CHECK (ok IN (0, 1))
);

CREATE INDEX registration_attempts_by_person ON registration_attempts(vk_id, at);

CREATE INDEX registration_attempts_by_time ON registration_attempts(at);

-- A valid code was given; the person still has to say whether they are head or deputy.
CREATE TABLE pending_registrations (
    vk_id      INTEGER PRIMARY KEY,
    school_id  TEXT NOT NULL REFERENCES schools(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL
);

CREATE TABLE chats (
    peer_id  INTEGER PRIMARY KEY,
    kind     TEXT NOT NULL CHECK (kind IN ('admin', 'heads')),
    bound_by INTEGER NOT NULL,
    bound_at TEXT NOT NULL
);

-- Who the bot saw in each chat; `readable` says whether it could list the members at all.
CREATE TABLE chat_checks (
    peer_id    INTEGER PRIMARY KEY,
    readable   INTEGER NOT NULL CHECK (readable IN (0, 1)),
    checked_at TEXT NOT NULL
);

CREATE TABLE chat_members (
    peer_id INTEGER NOT NULL,
    vk_id   INTEGER NOT NULL,
    PRIMARY KEY (peer_id, vk_id)
) WITHOUT ROWID;

CREATE INDEX chat_members_by_person ON chat_members(vk_id);

CREATE TABLE unresolved_people (
    school_id   TEXT NOT NULL REFERENCES schools(id) ON DELETE CASCADE,
    screen_name TEXT NOT NULL,
    full_name   TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('head', 'deputy')),
    problem     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (school_id, screen_name)
) WITHOUT ROWID
