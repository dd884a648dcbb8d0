-- Staff are told when a person leaves a school's list (issue 17): a re-import that drops them,
-- `roster remove-person`, `отвязать`, a school deleted with its people. The trigger catches
-- every way out; the scheduler's tick tells the admin chats of those not yet told, in one
-- notice, and marks them in the same transaction.
CREATE TABLE people_removed (
    id          INTEGER PRIMARY KEY,
    person_id   INTEGER NOT NULL,
    school_id   TEXT NOT NULL,
    full_name   TEXT NOT NULL,
    role        TEXT NOT NULL,
    noticed_at  TEXT
);

CREATE INDEX people_removed_unnoticed ON people_removed(id) WHERE noticed_at IS NULL;

CREATE TRIGGER people_removed_from_list AFTER DELETE ON people
BEGIN
    INSERT INTO people_removed (person_id, school_id, full_name, role)
    VALUES (OLD.person_id, OLD.school_id, OLD.full_name, OLD.role);
END;
