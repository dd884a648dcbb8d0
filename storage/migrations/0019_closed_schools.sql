-- A school can be closed (issue 17: reorganised, merged, under repair for the year) and
-- reopened. A closed school keeps its row, its people, codes and every answer, but leaves every
-- total: `статус`, `должники`, reminders, escalation, summaries, the picture, the reports'
-- rows. `schools.closed_at` is the one mark; the views below are what totals read, and the
-- counts' triggers (0009, 0010) are redefined to leave a closed school out, and to take a
-- school's whole contribution out (or back in) when it closes (or reopens).

ALTER TABLE schools ADD COLUMN closed_at TEXT;

ALTER TABLE schools ADD COLUMN closed_reason TEXT NOT NULL DEFAULT '';

-- Every closing and reopening, append-only, whoever did it (the command line, an import).
CREATE TABLE school_closures (
    id        INTEGER PRIMARY KEY,
    school_id TEXT NOT NULL,
    action    TEXT NOT NULL CHECK (action IN ('closed', 'reopened')),
    reason    TEXT NOT NULL DEFAULT '',
    at        TEXT NOT NULL
);

CREATE INDEX school_closures_by_school ON school_closures(school_id, id);

-- What totals count: open schools, their people and their current answers. A row whose school
-- is not in `schools` at all (it cannot be: foreign keys) would count as open.
CREATE VIEW open_schools AS
SELECT * FROM schools WHERE closed_at IS NULL;

CREATE VIEW counted_people AS
SELECT p.* FROM people p
WHERE NOT EXISTS (SELECT 1 FROM schools s WHERE s.id = p.school_id AND s.closed_at IS NOT NULL);

CREATE VIEW counted_answers AS
SELECT c.* FROM current_answers c
WHERE NOT EXISTS (SELECT 1 FROM schools s WHERE s.id = c.school_id AND s.closed_at IS NOT NULL);

-- current_answers of a closed school change nothing kept (staff and heads cannot answer for
-- it, but an import or a script might write).

DROP TRIGGER current_answer_added;
DROP TRIGGER current_answer_replaced;
DROP TRIGGER current_answer_removed;
DROP TRIGGER answer_counts_added;

CREATE TRIGGER current_answer_added AFTER INSERT ON current_answers
WHEN NOT EXISTS (SELECT 1 FROM schools WHERE id = NEW.school_id AND closed_at IS NOT NULL)
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
WHEN NOT EXISTS (SELECT 1 FROM schools WHERE id = NEW.school_id AND closed_at IS NOT NULL)
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
WHEN NOT EXISTS (SELECT 1 FROM schools WHERE id = OLD.school_id AND closed_at IS NOT NULL)
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
END;

CREATE TRIGGER answer_counts_added AFTER INSERT ON answer_counts
BEGIN
    INSERT INTO part_sums (campaign_id, step_id, part, done, total, answers)
    SELECT c.campaign_id, c.step_id, NEW.part, NEW.done, NEW.total, 1
    FROM answers a JOIN counted_answers c
      ON c.campaign_id = a.campaign_id AND c.school_id = a.school_id AND c.step_id = a.step_id
    WHERE a.id = NEW.answer_id AND c.answer_id = NEW.answer_id
    ON CONFLICT DO UPDATE SET
        done = done + excluded.done, total = total + excluded.total, answers = answers + 1;
END;

-- The roster: open schools, and people counted once however many open schools they are in.

DROP TRIGGER school_added;
DROP TRIGGER school_removed;
DROP TRIGGER person_added;
DROP TRIGGER person_removed;
DROP TRIGGER person_renumbered_from;
DROP TRIGGER person_renumbered_to;
DROP TRIGGER acknowledgement_added;
DROP TRIGGER acknowledgement_removed;

CREATE TRIGGER school_added AFTER INSERT ON schools
WHEN NEW.closed_at IS NULL
BEGIN
    UPDATE roster_counts SET schools = schools + 1 WHERE id = 1;
END;

CREATE TRIGGER school_removed AFTER DELETE ON schools
WHEN OLD.closed_at IS NULL
BEGIN
    UPDATE roster_counts SET schools = schools - 1 WHERE id = 1;
END;

CREATE TRIGGER person_added AFTER INSERT ON people
WHEN NOT EXISTS (SELECT 1 FROM schools WHERE id = NEW.school_id AND closed_at IS NOT NULL)
 AND NOT EXISTS (
    SELECT 1 FROM counted_people WHERE person_id = NEW.person_id AND school_id != NEW.school_id
)
BEGIN
    UPDATE roster_counts SET people = people + 1 WHERE id = 1;
    INSERT INTO acknowledged_counts (campaign_id, people)
    SELECT campaign_id, 1 FROM acknowledgements WHERE person_id = NEW.person_id AND true
    ON CONFLICT DO UPDATE SET people = people + 1;
END;

CREATE TRIGGER person_removed AFTER DELETE ON people
WHEN NOT EXISTS (SELECT 1 FROM schools WHERE id = OLD.school_id AND closed_at IS NOT NULL)
 AND NOT EXISTS (SELECT 1 FROM counted_people WHERE person_id = OLD.person_id)
BEGIN
    UPDATE roster_counts SET people = people - 1 WHERE id = 1;
    UPDATE acknowledged_counts SET people = people - 1
    WHERE campaign_id IN (SELECT campaign_id FROM acknowledgements WHERE person_id = OLD.person_id);
END;

CREATE TRIGGER person_renumbered_from AFTER UPDATE OF person_id ON people
WHEN OLD.person_id != NEW.person_id
 AND NOT EXISTS (SELECT 1 FROM schools WHERE id = OLD.school_id AND closed_at IS NOT NULL)
 AND NOT EXISTS (SELECT 1 FROM counted_people WHERE person_id = OLD.person_id)
BEGIN
    UPDATE roster_counts SET people = people - 1 WHERE id = 1;
    UPDATE acknowledged_counts SET people = people - 1
    WHERE campaign_id IN (SELECT campaign_id FROM acknowledgements WHERE person_id = OLD.person_id);
END;

CREATE TRIGGER person_renumbered_to AFTER UPDATE OF person_id ON people
WHEN OLD.person_id != NEW.person_id
 AND NOT EXISTS (SELECT 1 FROM schools WHERE id = NEW.school_id AND closed_at IS NOT NULL)
 AND NOT EXISTS (
    SELECT 1 FROM counted_people WHERE person_id = NEW.person_id AND school_id != NEW.school_id
)
BEGIN
    UPDATE roster_counts SET people = people + 1 WHERE id = 1;
    INSERT INTO acknowledged_counts (campaign_id, people)
    SELECT campaign_id, 1 FROM acknowledgements WHERE person_id = NEW.person_id AND true
    ON CONFLICT DO UPDATE SET people = people + 1;
END;

CREATE TRIGGER acknowledgement_added AFTER INSERT ON acknowledgements
WHEN EXISTS (SELECT 1 FROM counted_people WHERE person_id = NEW.person_id)
BEGIN
    INSERT INTO acknowledged_counts (campaign_id, people) VALUES (NEW.campaign_id, 1)
    ON CONFLICT DO UPDATE SET people = people + 1;
END;

CREATE TRIGGER acknowledgement_removed AFTER DELETE ON acknowledgements
WHEN EXISTS (SELECT 1 FROM counted_people WHERE person_id = OLD.person_id)
BEGIN
    UPDATE acknowledged_counts SET people = people - 1 WHERE campaign_id = OLD.campaign_id;
END;

-- A school closes: everything it added to the kept counts is taken out. A school has at most
-- one current answer per campaign and step, so each kept row it is in loses one school (and
-- one answer's numbers). Its people leave the count unless another open school has them.
CREATE TRIGGER school_closed AFTER UPDATE OF closed_at ON schools
WHEN OLD.closed_at IS NULL AND NEW.closed_at IS NOT NULL
BEGIN
    INSERT INTO school_closures (school_id, action, reason, at)
    VALUES (NEW.id, 'closed', NEW.closed_reason, NEW.closed_at);
    UPDATE state_counts SET schools = schools - 1
    WHERE EXISTS (
        SELECT 1 FROM current_answers c
        WHERE c.campaign_id = state_counts.campaign_id AND c.school_id = NEW.id
          AND c.step_id = state_counts.step_id AND c.state = state_counts.state
    );
    UPDATE part_sums SET
        done = done - (SELECT n.done FROM current_answers c
                       JOIN answer_counts n ON n.answer_id = c.answer_id
                       WHERE c.campaign_id = part_sums.campaign_id AND c.school_id = NEW.id
                         AND c.step_id = part_sums.step_id AND n.part = part_sums.part),
        total = total - (SELECT n.total FROM current_answers c
                         JOIN answer_counts n ON n.answer_id = c.answer_id
                         WHERE c.campaign_id = part_sums.campaign_id AND c.school_id = NEW.id
                           AND c.step_id = part_sums.step_id AND n.part = part_sums.part),
        answers = answers - 1
    WHERE EXISTS (
        SELECT 1 FROM current_answers c JOIN answer_counts n ON n.answer_id = c.answer_id
        WHERE c.campaign_id = part_sums.campaign_id AND c.school_id = NEW.id
          AND c.step_id = part_sums.step_id AND n.part = part_sums.part
    );
    DELETE FROM school_done WHERE school_id = NEW.id;
    UPDATE acknowledged_counts SET people = people - (
        SELECT COUNT(*) FROM acknowledgements a
        WHERE a.campaign_id = acknowledged_counts.campaign_id
          AND a.person_id IN (
            SELECT p.person_id FROM people p WHERE p.school_id = NEW.id
              AND NOT EXISTS (SELECT 1 FROM counted_people q WHERE q.person_id = p.person_id)
          )
    );
    UPDATE roster_counts SET
        schools = schools - 1,
        people = people - (
            SELECT COUNT(*) FROM people p WHERE p.school_id = NEW.id
              AND NOT EXISTS (SELECT 1 FROM counted_people q WHERE q.person_id = p.person_id)
        )
    WHERE id = 1;
END;

-- A school reopens: its current answers (kept all along) count again, as they were.
CREATE TRIGGER school_reopened AFTER UPDATE OF closed_at ON schools
WHEN OLD.closed_at IS NOT NULL AND NEW.closed_at IS NULL
BEGIN
    INSERT INTO school_closures (school_id, action, reason, at)
    VALUES (NEW.id, 'reopened', '', NEW.updated_at);
    INSERT INTO state_counts (campaign_id, step_id, state, schools)
    SELECT c.campaign_id, c.step_id, c.state, 1
    FROM campaigns k JOIN current_answers c ON c.campaign_id = k.id AND c.school_id = NEW.id
    WHERE true
    ON CONFLICT DO UPDATE SET schools = schools + 1;
    INSERT INTO part_sums (campaign_id, step_id, part, done, total, answers)
    SELECT c.campaign_id, c.step_id, n.part, n.done, n.total, 1
    FROM campaigns k JOIN current_answers c ON c.campaign_id = k.id AND c.school_id = NEW.id
    JOIN answer_counts n ON n.answer_id = c.answer_id
    WHERE true
    ON CONFLICT DO UPDATE SET
        done = done + excluded.done, total = total + excluded.total, answers = answers + 1;
    INSERT INTO school_done (campaign_id, school_id, steps)
    SELECT c.campaign_id, c.school_id, COUNT(*)
    FROM campaigns k JOIN current_answers c ON c.campaign_id = k.id AND c.school_id = NEW.id
    WHERE c.state IN ('done', 'not_required')
    GROUP BY c.campaign_id, c.school_id
    ON CONFLICT DO UPDATE SET steps = excluded.steps;
    INSERT INTO acknowledged_counts (campaign_id, people)
    SELECT a.campaign_id, COUNT(*) FROM acknowledgements a
    WHERE a.person_id IN (
        SELECT p.person_id FROM people p WHERE p.school_id = NEW.id
          AND NOT EXISTS (
            SELECT 1 FROM counted_people q
            WHERE q.person_id = p.person_id AND q.school_id != NEW.id
          )
    )
    GROUP BY a.campaign_id
    ON CONFLICT DO UPDATE SET people = people + excluded.people;
    UPDATE roster_counts SET
        schools = schools + 1,
        people = people + (
            SELECT COUNT(*) FROM people p WHERE p.school_id = NEW.id
              AND NOT EXISTS (
                SELECT 1 FROM counted_people q
                WHERE q.person_id = p.person_id AND q.school_id != NEW.id
              )
        )
    WHERE id = 1;
END;

-- The last import remembers which of its file's schools were closed, so that importing it
-- again with nothing changed says so too (closing or reopening moves the roster's version).
ALTER TABLE roster_imports ADD COLUMN closed_in_file TEXT NOT NULL DEFAULT '[]'
