-- The district as each daily summary found it: `статус` shows the trend of finished schools by
-- day, and the next summary says what changed since this one.
CREATE TABLE progress_days (
    campaign_id TEXT NOT NULL REFERENCES campaigns(id),
    day         TEXT NOT NULL,      -- the summary's local date, "2023-10-18"
    finished    INTEGER NOT NULL,   -- schools with every item done
    taken_at    TEXT NOT NULL,      -- when the summary was written (UTC)
    PRIMARY KEY (campaign_id, day)
) WITHOUT ROWID;
