-- The store under load: each live session keeps its privilege and its next deadline in
-- its row, so the sweep is one indexed query (`next_deadline <= now`) whatever the group
-- membership or the number of live sessions; both are recomputed only when something that
-- changes them happens (keepalive, consent, an admin change touching the user).

-- 1 when the user holds any scope (directly or through a group), 0 when not; NULL when
-- unknown (the sweep then works it out).
ALTER TABLE sessions ADD COLUMN privileged INTEGER;
-- The earliest of the absolute expiry, the idle deadline (privileged users) and the consent
-- deadline (consent pending). It depends on the configured timeouts, so the server sets
-- it at start-up for every live session; NULL means "not computed yet".
ALTER TABLE sessions ADD COLUMN next_deadline INTEGER;

UPDATE sessions SET privileged = CASE
    WHEN EXISTS (SELECT 1 FROM user_roles ur JOIN role_scopes rs ON rs.role_id = ur.role_id
                 WHERE ur.user_id = sessions.user_id)
      OR EXISTS (SELECT 1 FROM group_members gm
                 JOIN group_roles gr ON gr.group_id = gm.group_id
                 JOIN role_scopes rs ON rs.role_id = gr.role_id
                 WHERE gm.user_id = sessions.user_id)
    THEN 1 ELSE 0 END
WHERE ended_at IS NULL;

-- The sweep: live sessions by deadline (and those not computed yet).
CREATE INDEX sessions_live_deadline ON sessions (next_deadline) WHERE ended_at IS NULL;
-- Deleting a user cascades to all of its sessions, ended ones included.
CREATE INDEX sessions_by_user ON sessions (user_id);
-- Privilege lookups from the user's side and role holders from the role's side (the
-- primary keys only cover the other direction).
CREATE INDEX group_members_by_user ON group_members (user_id);
CREATE INDEX user_roles_by_role ON user_roles (role_id);
CREATE INDEX group_roles_by_role ON group_roles (role_id);
