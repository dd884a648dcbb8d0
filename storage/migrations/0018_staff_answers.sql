-- The administration's own staff confirm their items of an order (issue 14: item 2 of order
-- No. 47, «Сотрудникам Управления образования»), each for themselves: a history of answers per
-- person and step, beside the schools' answers, never in their totals.

CREATE TABLE staff_answers (
    id          INTEGER PRIMARY KEY,
    campaign_id TEXT NOT NULL,
    step_id     TEXT NOT NULL,
    person_id   INTEGER NOT NULL,
    full_name   TEXT NOT NULL DEFAULT '',
    state       TEXT NOT NULL CHECK (state IN ('done', 'in_progress', 'problem')),
    reason      TEXT NOT NULL DEFAULT '',
    answered_at TEXT NOT NULL,
    source      TEXT NOT NULL,
    late        INTEGER NOT NULL DEFAULT 0 CHECK (late IN (0, 1)),
    FOREIGN KEY (campaign_id, step_id) REFERENCES steps(campaign_id, step_id)
);

CREATE INDEX staff_answers_by_person ON staff_answers(campaign_id, person_id, step_id, id);
