-- A tab an administrator ended on its own: who ended it. Such a tab is closed for good:
-- it never registers again under its id.
ALTER TABLE session_tabs ADD COLUMN ended_by BIGINT;
