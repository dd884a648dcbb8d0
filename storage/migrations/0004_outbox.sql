-- Every message the bot sends is written here first, in the same transaction as the state
-- change that wants it sent; one sender drains it. Times are ISO 8601 text in UTC.

CREATE TABLE outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The idempotency key: enqueuing it twice is a no-op, and the messenger's dedupe id
    -- (VK's random_id) is derived from it, so a resend after a crash is not a second message.
    key        TEXT NOT NULL UNIQUE,
    platform   TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('send', 'edit', 'answer')),
    -- Messages of one lane (one recipient) leave in the order they were written.
    lane       TEXT NOT NULL,
    body       TEXT NOT NULL,
    state      TEXT NOT NULL DEFAULT 'pending'
               CHECK (state IN ('pending', 'sent', 'failed', 'skipped')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    not_before TEXT NOT NULL,
    created_at TEXT NOT NULL,
    done_at    TEXT,
    error      TEXT NOT NULL DEFAULT ''
);

CREATE INDEX outbox_pending ON outbox(state, id) WHERE state = 'pending';

-- Chats the messenger says the bot is no longer in (VK 7, 917, ...): skipped until re-invited.
CREATE TABLE lost_chats (
    platform TEXT NOT NULL,
    chat_id  INTEGER NOT NULL,
    since    TEXT NOT NULL,
    error    TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (platform, chat_id)
) WITHOUT ROWID
