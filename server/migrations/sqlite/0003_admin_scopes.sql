-- The admin API's parts now need their own scopes: `sessions:terminate` for live sessions
-- and ending them, `audit:read` for the audit log (`admin:manage` keeps users, roles and
-- groups). Before, `admin:manage` opened all of it, so every role holding it gets the
-- two new scopes: nobody loses what they could do when the server is upgraded.

INSERT OR IGNORE INTO role_scopes (role_id, scope)
    SELECT role_id, 'sessions:terminate' FROM role_scopes WHERE scope = 'admin:manage';

INSERT OR IGNORE INTO role_scopes (role_id, scope)
    SELECT role_id, 'audit:read' FROM role_scopes WHERE scope = 'admin:manage';
