-- Extensions (issue 17): staff give a school more time, for every item or for one. The
-- school's answers are late only after its own deadline, its reminders follow that deadline
-- and the controller hears of it only when it has passed. One row per school and item ('' for
-- every item of the school); granting again moves it, cancelling deletes it. Who did what and
-- when stays in staff_actions.
CREATE TABLE extensions (
    campaign_id TEXT NOT NULL,
    school_id   TEXT NOT NULL REFERENCES schools(id) ON DELETE CASCADE,
    step_id     TEXT NOT NULL DEFAULT '',
    deadline    TEXT NOT NULL,
    granted_by  INTEGER NOT NULL,
    granted_at  TEXT NOT NULL,
    PRIMARY KEY (campaign_id, school_id, step_id)
) WITHOUT ROWID
