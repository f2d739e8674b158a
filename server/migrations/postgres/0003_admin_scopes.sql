-- The admin API's parts now need their own scopes: `sessions:terminate` for live sessions
-- and ending them, `audit:read` for the audit log (`admin:manage` keeps users, roles and
-- groups). Every role holding `admin:manage` gets the two new scopes, as in SQLite (on a
-- new PostgreSQL store there is no role yet, so this changes nothing; it keeps both
-- stores' migration lists the same).

INSERT INTO role_scopes (role_id, scope)
    SELECT role_id, 'sessions:terminate' FROM role_scopes WHERE scope = 'admin:manage'
    ON CONFLICT DO NOTHING;

INSERT INTO role_scopes (role_id, scope)
    SELECT role_id, 'audit:read' FROM role_scopes WHERE scope = 'admin:manage'
    ON CONFLICT DO NOTHING;
