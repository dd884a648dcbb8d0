-- The department's web page (issue 18): staff log in by a one-time link the bot sends and get
-- a session for a working day. Only a SHA-256 of each token is kept, so a copy of the database
-- opens nobody's session. Times are ISO 8601 text in UTC.

-- A link sent by the bot: single use, short-lived.
CREATE TABLE web_links (
    token_hash TEXT PRIMARY KEY,
    person_id  INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT
) WITHOUT ROWID;

CREATE INDEX web_links_by_person ON web_links(person_id);

-- A browser's session, begun by opening a link; `ended_at` once its owner logs out (on the
-- page or by «выйти» in the bot). The CSRF token of its forms is kept with it.
CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY,
    person_id  INTEGER NOT NULL,
    csrf       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    ended_at   TEXT
) WITHOUT ROWID;

CREATE INDEX web_sessions_by_person ON web_sessions(person_id);
