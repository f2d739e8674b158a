-- A gap marker among a recorded session's API actions: requests the server answered but
-- could not record (its request log's queue was full). Such a row has an empty method and
-- path, status 0 and no tab; `gap_requests` is how many were lost, from `at` to
-- `gap_until`. Both are NULL in a recorded request.
ALTER TABLE recording_actions ADD COLUMN gap_requests INTEGER;
ALTER TABLE recording_actions ADD COLUMN gap_until INTEGER;
