-- Automatic messages: what was sent, once per campaign, slot and recipient.

CREATE TABLE scheduled_sent (
    campaign_id TEXT NOT NULL REFERENCES campaigns(id),
    slot_key    TEXT NOT NULL,
    recipient   INTEGER NOT NULL,
    sent_at     TEXT NOT NULL,
    PRIMARY KEY (campaign_id, slot_key, recipient)
) WITHOUT ROWID;

-- A slot is finished when every recipient is handled; recipient 0 marks the slot itself.

ALTER TABLE campaigns ADD COLUMN paused_at TEXT
