-- People get an id of the product's own, with their messenger accounts beside it.
--
-- Every table that named a person by "vk_id" now says "person_id". Person ids below 2^40 are
-- VK-born: such a person's VK account is the same number (every existing row stays as it is,
-- and a trigger records the account whenever such a person is added). An account on another
-- messenger (MAX) is linked here to the person it belongs to, or to a new person id from 2^40
-- on. The messenger adapters turn an account into a person id and back (bot/vk.py).

ALTER TABLE people RENAME COLUMN vk_id TO person_id;
ALTER TABLE acknowledgements RENAME COLUMN vk_id TO person_id;
ALTER TABLE private_unreachable RENAME COLUMN vk_id TO person_id;
ALTER TABLE pending_inputs RENAME COLUMN vk_id TO person_id;
ALTER TABLE registration_attempts RENAME COLUMN vk_id TO person_id;
ALTER TABLE pending_registrations RENAME COLUMN vk_id TO person_id;
ALTER TABLE chat_members RENAME COLUMN vk_id TO person_id;
ALTER TABLE strangers_told RENAME COLUMN vk_id TO person_id;

CREATE TABLE accounts (
    platform    TEXT NOT NULL,     -- "vk", "max"
    external_id TEXT NOT NULL,     -- the messenger's own user id, as text
    person_id   INTEGER NOT NULL,
    PRIMARY KEY (platform, external_id)
) WITHOUT ROWID;

CREATE INDEX accounts_by_person ON accounts(person_id);

INSERT OR IGNORE INTO accounts (platform, external_id, person_id)
SELECT 'vk', CAST(person_id AS TEXT), person_id FROM people
UNION SELECT 'vk', CAST(person_id AS TEXT), person_id FROM acknowledgements
UNION SELECT 'vk', CAST(person_id AS TEXT), person_id FROM pending_registrations;

CREATE TRIGGER people_vk_account AFTER INSERT ON people
WHEN NEW.person_id < 1099511627776
BEGIN
    INSERT OR IGNORE INTO accounts (platform, external_id, person_id)
    VALUES ('vk', CAST(NEW.person_id AS TEXT), NEW.person_id);
END;
