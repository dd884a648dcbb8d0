-- «Не требуется» (issue 17): staff mark an item as not applying to a school. It is one more
-- state of an answer, so it has the history, the author (the staff member) and the source
-- (`admin`) every answer has, and `current_answers` holds it like any other state:
-- `state_counts` keeps it apart (`статус` leaves it out of the item's totals and percents),
-- `school_done` counts it as done (the school can finish without the item).
--
-- Widening the CHECK of `answers.state` rewrites only the table's definition: every stored
-- row already satisfies the wider list, which is the case SQLite documents for editing the
-- schema text in place (lang_altertable.html, "otherwise"). Rebuilding the table instead would
-- break the foreign keys of answer_counts and current_answers within one transaction.
PRAGMA writable_schema = ON;

UPDATE sqlite_schema
SET sql = replace(
    sql,
    'CHECK (state IN (''done'', ''in_progress'', ''problem''))',
    'CHECK (state IN (''done'', ''in_progress'', ''problem'', ''not_required''))'
)
WHERE type = 'table' AND name = 'answers';

PRAGMA writable_schema = RESET;

-- Staff actions that are not answers, each with its author: «требуется» (an undone «не
-- требуется»), extensions and their cancelling. Append-only, like `answers`.
CREATE TABLE staff_actions (
    id          INTEGER PRIMARY KEY,
    campaign_id TEXT NOT NULL,
    school_id   TEXT NOT NULL,
    step_id     TEXT NOT NULL DEFAULT '',   -- '' when the action is about the whole school
    action      TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '',
    done_by     INTEGER NOT NULL,
    done_at     TEXT NOT NULL
);

CREATE INDEX staff_actions_by_school ON staff_actions(campaign_id, school_id, id);

-- school_done: an item not required counts as done for its school.

DROP TRIGGER current_answer_added;
DROP TRIGGER current_answer_replaced;
DROP TRIGGER current_answer_removed;

CREATE TRIGGER current_answer_added AFTER INSERT ON current_answers
BEGIN
    INSERT INTO state_counts (campaign_id, step_id, state, schools)
    VALUES (NEW.campaign_id, NEW.step_id, NEW.state, 1)
    ON CONFLICT DO UPDATE SET schools = schools + 1;
    INSERT INTO part_sums (campaign_id, step_id, part, done, total, answers)
    SELECT NEW.campaign_id, NEW.step_id, n.part, n.done, n.total, 1
    FROM answer_counts n WHERE n.answer_id = NEW.answer_id AND true
    ON CONFLICT DO UPDATE SET
        done = done + excluded.done, total = total + excluded.total, answers = answers + 1;
    INSERT INTO school_done (campaign_id, school_id, steps)
    SELECT NEW.campaign_id, NEW.school_id, 1 WHERE NEW.state IN ('done', 'not_required')
    ON CONFLICT DO UPDATE SET steps = steps + 1;
END;

CREATE TRIGGER current_answer_replaced AFTER UPDATE ON current_answers
BEGIN
    UPDATE state_counts SET schools = schools - 1
    WHERE campaign_id = OLD.campaign_id AND step_id = OLD.step_id AND state = OLD.state;
    INSERT INTO state_counts (campaign_id, step_id, state, schools)
    VALUES (NEW.campaign_id, NEW.step_id, NEW.state, 1)
    ON CONFLICT DO UPDATE SET schools = schools + 1;
    UPDATE part_sums SET
        done = done - (SELECT n.done FROM answer_counts n
                       WHERE n.answer_id = OLD.answer_id AND n.part = part_sums.part),
        total = total - (SELECT n.total FROM answer_counts n
                         WHERE n.answer_id = OLD.answer_id AND n.part = part_sums.part),
        answers = answers - 1
    WHERE campaign_id = OLD.campaign_id AND step_id = OLD.step_id
      AND part IN (SELECT n.part FROM answer_counts n WHERE n.answer_id = OLD.answer_id);
    INSERT INTO part_sums (campaign_id, step_id, part, done, total, answers)
    SELECT NEW.campaign_id, NEW.step_id, n.part, n.done, n.total, 1
    FROM answer_counts n WHERE n.answer_id = NEW.answer_id AND true
    ON CONFLICT DO UPDATE SET
        done = done + excluded.done, total = total + excluded.total, answers = answers + 1;
    UPDATE school_done SET steps = steps - 1
    WHERE OLD.state IN ('done', 'not_required')
      AND campaign_id = OLD.campaign_id AND school_id = OLD.school_id;
    INSERT INTO school_done (campaign_id, school_id, steps)
    SELECT NEW.campaign_id, NEW.school_id, 1 WHERE NEW.state IN ('done', 'not_required')
    ON CONFLICT DO UPDATE SET steps = steps + 1;
END;

CREATE TRIGGER current_answer_removed AFTER DELETE ON current_answers
BEGIN
    UPDATE state_counts SET schools = schools - 1
    WHERE campaign_id = OLD.campaign_id AND step_id = OLD.step_id AND state = OLD.state;
    UPDATE part_sums SET
        done = done - (SELECT n.done FROM answer_counts n
                       WHERE n.answer_id = OLD.answer_id AND n.part = part_sums.part),
        total = total - (SELECT n.total FROM answer_counts n
                         WHERE n.answer_id = OLD.answer_id AND n.part = part_sums.part),
        answers = answers - 1
    WHERE campaign_id = OLD.campaign_id AND step_id = OLD.step_id
      AND part IN (SELECT n.part FROM answer_counts n WHERE n.answer_id = OLD.answer_id);
    UPDATE school_done SET steps = steps - 1
    WHERE OLD.state IN ('done', 'not_required')
      AND campaign_id = OLD.campaign_id AND school_id = OLD.school_id;
END
