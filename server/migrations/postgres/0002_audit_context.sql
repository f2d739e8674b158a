-- Who, from where: every audit entry records the client address and user agent of the
-- request that caused it, and the acting session and (registered) tab.

ALTER TABLE audit ADD COLUMN client_addr TEXT;
ALTER TABLE audit ADD COLUMN user_agent TEXT;
ALTER TABLE audit ADD COLUMN actor_session_id TEXT;
ALTER TABLE audit ADD COLUMN actor_tab_id TEXT;

-- Filters and the retention purge read by these.
CREATE INDEX audit_at ON audit (at);
CREATE INDEX audit_kind ON audit (kind, id);
CREATE INDEX sessions_ended_at ON sessions (ended_at) WHERE ended_at IS NOT NULL;
