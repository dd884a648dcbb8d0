-- Staff are told when a person registers by code (issue 17): the scheduler's tick gathers
-- the registrations not yet told into one notice to the admin chats, and records them here
-- in the same transaction, so each is told once. A registration is a person, a school and
-- its moment: registering again after `отвязать` is told again.
CREATE TABLE registration_notices (
    person_id     INTEGER NOT NULL,
    school_id     TEXT NOT NULL,
    registered_at TEXT NOT NULL,
    noticed_at    TEXT NOT NULL,
    PRIMARY KEY (person_id, school_id, registered_at)
) WITHOUT ROWID;

-- Registrations before this version are not news.
INSERT INTO registration_notices (person_id, school_id, registered_at, noticed_at)
SELECT person_id, school_id, registered_at, registered_at FROM people
WHERE source = 'registration' AND registered_at IS NOT NULL
