-- Several orders at once: a campaign is open until staff close it (its reminders stop; its
-- answers and reports stay), and a step is addressed either to school heads or to the
-- administration's own staff. Existing campaigns stay open, every existing step is the heads'.

ALTER TABLE campaigns ADD COLUMN closed_at TEXT;

ALTER TABLE steps ADD COLUMN audience TEXT NOT NULL DEFAULT 'heads'
    CHECK (audience IN ('heads', 'staff'));
