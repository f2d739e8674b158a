-- A gap marker among a recorded session's API actions; the same columns and meaning as
-- migrations/sqlite/0008_request_log_gaps.sql.
ALTER TABLE recording_actions ADD COLUMN gap_requests BIGINT, ADD COLUMN gap_until BIGINT;
