-- A MAX person's dialog with the bot, by its chat id: the outbox reads a dialog back after a
-- restart to see whether a message left pending by a process that died was already sent (MAX
-- has no random_id). Learned from the person's updates; kept so a restart does not forget it.

CREATE TABLE account_dialogs (
    platform    TEXT NOT NULL,
    external_id TEXT NOT NULL,
    chat_id     INTEGER NOT NULL,
    PRIMARY KEY (platform, external_id)
) WITHOUT ROWID;
