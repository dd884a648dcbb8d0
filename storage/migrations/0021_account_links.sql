-- One person on two messengers (issue 16): a registered person asks the bot on one messenger
-- for a personal one-time code, and opens the bot on the other with it (MAX: the deep link
-- max.ru/<bot>?start=CODE, which arrives as bot_started.payload). That account is then linked
-- to the same person id (accounts.person_id), so the school, the history and the answers stay
-- one. A code is the person's own (never a school's, which deputies share), lives an hour and
-- is used once; `linked_*` say which account took it.
CREATE TABLE account_links (
    code        TEXT PRIMARY KEY,
    person_id   INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    linked_platform    TEXT,
    linked_external_id TEXT,
    linked_at   TEXT
) WITHOUT ROWID;

CREATE INDEX account_links_by_person ON account_links(person_id);
