-- Counts kept for `статус`, so that it reads a few dozen rows whatever the region's size.
-- Triggers keep them in the same transaction as the change they count (an answer made
-- current, a person added or removed, an order acknowledged), whoever writes the rows;
-- `confirmbot doctor` recounts them from the base tables and repairs any drift.

-- Per campaign, step and state: how many schools currently report it.
CREATE TABLE state_counts (
    campaign_id TEXT NOT NULL,
    step_id     TEXT NOT NULL,
    state       TEXT NOT NULL,
    schools     INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, step_id, state)
) WITHOUT ROWID;

-- Per count step and part: the district's sums over the schools' current answers.
CREATE TABLE part_sums (
    campaign_id TEXT NOT NULL,
    step_id     TEXT NOT NULL,
    part        TEXT NOT NULL,
    done        INTEGER NOT NULL,
    total       INTEGER NOT NULL,
    answers     INTEGER NOT NULL,  -- current answers with numbers for it; none: no row
    PRIMARY KEY (campaign_id, step_id, part)
) WITHOUT ROWID;

-- Per school: how many of a campaign's steps are currently done ...
CREATE TABLE school_done (
    campaign_id TEXT NOT NULL,
    school_id   TEXT NOT NULL,
    steps       INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, school_id)
) WITHOUT ROWID;

-- ... and how many schools have each number done: the finished ones are one row of it.
CREATE TABLE done_histogram (
    campaign_id TEXT NOT NULL,
    steps       INTEGER NOT NULL,
    schools     INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, steps)
) WITHOUT ROWID;

-- Schools in the roster and distinct people (a person may head two schools).
CREATE TABLE roster_counts (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    schools INTEGER NOT NULL,
    people  INTEGER NOT NULL
);

-- Per campaign: people of the roster who acknowledged its order.
CREATE TABLE acknowledged_counts (
    campaign_id TEXT PRIMARY KEY,
    people      INTEGER NOT NULL
) WITHOUT ROWID;

-- A new person's acknowledgements are found by person.
CREATE INDEX acknowledgements_by_person ON acknowledgements(person_id);

-- The counts of an existing database, from its rows.
INSERT INTO state_counts (campaign_id, step_id, state, schools)
SELECT campaign_id, step_id, state, COUNT(*) FROM current_answers
GROUP BY campaign_id, step_id, state;

INSERT INTO part_sums (campaign_id, step_id, part, done, total, answers)
SELECT c.campaign_id, c.step_id, n.part, SUM(n.done), SUM(n.total), COUNT(*)
FROM current_answers c JOIN answer_counts n ON n.answer_id = c.answer_id
GROUP BY c.campaign_id, c.step_id, n.part;

INSERT INTO school_done (campaign_id, school_id, steps)
SELECT campaign_id, school_id, COUNT(*) FROM current_answers WHERE state = 'done'
GROUP BY campaign_id, school_id;

INSERT INTO done_histogram (campaign_id, steps, schools)
SELECT campaign_id, steps, COUNT(*) FROM school_done GROUP BY campaign_id, steps;

INSERT INTO roster_counts (id, schools, people)
VALUES (1, (SELECT COUNT(*) FROM schools), (SELECT COUNT(DISTINCT person_id) FROM people));

INSERT INTO acknowledged_counts (campaign_id, people)
SELECT a.campaign_id, COUNT(*) FROM acknowledgements a
WHERE EXISTS (SELECT 1 FROM people p WHERE p.person_id = a.person_id)
GROUP BY a.campaign_id;

-- current_answers: a school's answer to a step becomes current (first, or replacing one).

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
    SELECT NEW.campaign_id, NEW.school_id, 1 WHERE NEW.state = 'done'
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
    WHERE OLD.state = 'done' AND campaign_id = OLD.campaign_id AND school_id = OLD.school_id;
    INSERT INTO school_done (campaign_id, school_id, steps)
    SELECT NEW.campaign_id, NEW.school_id, 1 WHERE NEW.state = 'done'
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
    WHERE OLD.state = 'done' AND campaign_id = OLD.campaign_id AND school_id = OLD.school_id;
END;

-- An answer's numbers written after it became current (the bot writes them before).
CREATE TRIGGER answer_counts_added AFTER INSERT ON answer_counts
BEGIN
    INSERT INTO part_sums (campaign_id, step_id, part, done, total, answers)
    SELECT c.campaign_id, c.step_id, NEW.part, NEW.done, NEW.total, 1
    FROM answers a JOIN current_answers c
      ON c.campaign_id = a.campaign_id AND c.school_id = a.school_id AND c.step_id = a.step_id
    WHERE a.id = NEW.answer_id AND c.answer_id = NEW.answer_id
    ON CONFLICT DO UPDATE SET
        done = done + excluded.done, total = total + excluded.total, answers = answers + 1;
END;

-- school_done: a school moves from one number of done steps to another.

CREATE TRIGGER school_done_added AFTER INSERT ON school_done
BEGIN
    INSERT INTO done_histogram (campaign_id, steps, schools)
    SELECT NEW.campaign_id, NEW.steps, 1 WHERE NEW.steps > 0
    ON CONFLICT DO UPDATE SET schools = schools + 1;
END;

-- Schools with no step done are not in the histogram (nor in the recount).
CREATE TRIGGER school_done_changed AFTER UPDATE OF steps ON school_done
BEGIN
    UPDATE done_histogram SET schools = schools - 1
    WHERE campaign_id = OLD.campaign_id AND steps = OLD.steps;
    INSERT INTO done_histogram (campaign_id, steps, schools)
    SELECT NEW.campaign_id, NEW.steps, 1 WHERE NEW.steps > 0
    ON CONFLICT DO UPDATE SET schools = schools + 1;
END;

CREATE TRIGGER school_done_removed AFTER DELETE ON school_done
BEGIN
    UPDATE done_histogram SET schools = schools - 1
    WHERE campaign_id = OLD.campaign_id AND steps = OLD.steps;
END;

-- The roster: schools, and people counted once however many schools they belong to.

CREATE TRIGGER school_added AFTER INSERT ON schools
BEGIN
    UPDATE roster_counts SET schools = schools + 1 WHERE id = 1;
END;

CREATE TRIGGER school_removed AFTER DELETE ON schools
BEGIN
    UPDATE roster_counts SET schools = schools - 1 WHERE id = 1;
END;

CREATE TRIGGER person_added AFTER INSERT ON people
WHEN NOT EXISTS (
    SELECT 1 FROM people WHERE person_id = NEW.person_id AND school_id != NEW.school_id
)
BEGIN
    UPDATE roster_counts SET people = people + 1 WHERE id = 1;
    INSERT INTO acknowledged_counts (campaign_id, people)
    SELECT campaign_id, 1 FROM acknowledgements WHERE person_id = NEW.person_id AND true
    ON CONFLICT DO UPDATE SET people = people + 1;
END;

CREATE TRIGGER person_removed AFTER DELETE ON people
WHEN NOT EXISTS (SELECT 1 FROM people WHERE person_id = OLD.person_id)
BEGIN
    UPDATE roster_counts SET people = people - 1 WHERE id = 1;
    UPDATE acknowledged_counts SET people = people - 1
    WHERE campaign_id IN (SELECT campaign_id FROM acknowledgements WHERE person_id = OLD.person_id);
END;

CREATE TRIGGER person_renumbered_from AFTER UPDATE OF person_id ON people
WHEN OLD.person_id != NEW.person_id AND NOT EXISTS (SELECT 1 FROM people WHERE person_id = OLD.person_id)
BEGIN
    UPDATE roster_counts SET people = people - 1 WHERE id = 1;
    UPDATE acknowledged_counts SET people = people - 1
    WHERE campaign_id IN (SELECT campaign_id FROM acknowledgements WHERE person_id = OLD.person_id);
END;

CREATE TRIGGER person_renumbered_to AFTER UPDATE OF person_id ON people
WHEN OLD.person_id != NEW.person_id AND NOT EXISTS (
    SELECT 1 FROM people WHERE person_id = NEW.person_id AND school_id != NEW.school_id
)
BEGIN
    UPDATE roster_counts SET people = people + 1 WHERE id = 1;
    INSERT INTO acknowledged_counts (campaign_id, people)
    SELECT campaign_id, 1 FROM acknowledgements WHERE person_id = NEW.person_id AND true
    ON CONFLICT DO UPDATE SET people = people + 1;
END;

-- Acknowledgements: counted only for people of the roster.

CREATE TRIGGER acknowledgement_added AFTER INSERT ON acknowledgements
WHEN EXISTS (SELECT 1 FROM people WHERE person_id = NEW.person_id)
BEGIN
    INSERT INTO acknowledged_counts (campaign_id, people) VALUES (NEW.campaign_id, 1)
    ON CONFLICT DO UPDATE SET people = people + 1;
END;

CREATE TRIGGER acknowledgement_removed AFTER DELETE ON acknowledgements
WHEN EXISTS (SELECT 1 FROM people WHERE person_id = OLD.person_id)
BEGIN
    UPDATE acknowledged_counts SET people = people - 1 WHERE campaign_id = OLD.campaign_id;
END;

-- The roster as the last import left it: a second import of the same file, with nothing
-- changed in the roster since, has nothing to do (`RosterRepository.unchanged_import`).
-- Every change to schools, people or unresolved_people moves the roster's version.
CREATE TABLE roster_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);

INSERT INTO roster_version (id, version) VALUES (1, 0);

CREATE TABLE roster_imports (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    digest      TEXT NOT NULL,     -- of the file's bytes and the code that read them
    version     INTEGER NOT NULL,  -- roster_version right after the import
    schools     INTEGER NOT NULL,  -- schools in the file
    not_in_file INTEGER NOT NULL,  -- schools kept that the file did not list
    unresolved  INTEGER NOT NULL,  -- people given by screen name, waiting to be resolved
    ignored     TEXT NOT NULL      -- the file's columns that were not loaded
);

CREATE TRIGGER roster_school_added AFTER INSERT ON schools
BEGIN
    UPDATE roster_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER roster_school_changed AFTER UPDATE ON schools
BEGIN
    UPDATE roster_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER roster_school_removed AFTER DELETE ON schools
BEGIN
    UPDATE roster_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER roster_person_added AFTER INSERT ON people
BEGIN
    UPDATE roster_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER roster_person_changed AFTER UPDATE ON people
BEGIN
    UPDATE roster_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER roster_person_removed AFTER DELETE ON people
BEGIN
    UPDATE roster_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER roster_unresolved_added AFTER INSERT ON unresolved_people
BEGIN
    UPDATE roster_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER roster_unresolved_changed AFTER UPDATE ON unresolved_people
BEGIN
    UPDATE roster_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER roster_unresolved_removed AFTER DELETE ON unresolved_people
BEGIN
    UPDATE roster_version SET version = version + 1 WHERE id = 1;
END;

-- A part no current answer has numbers for any more is no row at all, as a recount has it
-- (not «0 of 0», which an answer may also say).
CREATE TRIGGER part_sums_emptied AFTER UPDATE ON part_sums
WHEN NEW.answers = 0
BEGIN
    DELETE FROM part_sums
    WHERE campaign_id = NEW.campaign_id AND step_id = NEW.step_id AND part = NEW.part;
END;
