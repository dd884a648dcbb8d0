-- The sender asks for the oldest pending message of each lane: find it by lane.

CREATE INDEX outbox_pending_lane ON outbox(lane, id) WHERE state = 'pending'
