-- How much of its sender's hourly allowance a wrong registration code used up: 1, or all of it
-- while the district as a whole is past its limit of wrong codes (bot/onboarding.py).

ALTER TABLE registration_attempts ADD COLUMN weight INTEGER NOT NULL DEFAULT 1 CHECK (weight > 0)
