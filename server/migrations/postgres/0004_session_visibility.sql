-- Session visibility: where each session was started from, who ended it, and which of its
-- tabs are still open, for the Admin Console's live list and history.

ALTER TABLE sessions ADD COLUMN client_addr TEXT;
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
-- The administrator (or user) who ended the session; NULL when the server ended it.
ALTER TABLE sessions ADD COLUMN ended_by BIGINT;

-- A tab that told the server it closed (pagehide); re-registering clears it.
ALTER TABLE session_tabs ADD COLUMN closed_at BIGINT;
