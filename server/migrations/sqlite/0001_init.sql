-- Initial schema of the session-guard reference server.
-- Times are epoch milliseconds (UTC). Secrets are never stored: sessions keep only the
-- SHA-256 of the cookie secret, users only an argon2 PHC string.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    display_name  TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    suspended     INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);

CREATE TABLE roles (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT    NOT NULL UNIQUE COLLATE NOCASE
);

CREATE TABLE role_scopes (
    role_id INTEGER NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    scope   TEXT    NOT NULL,
    PRIMARY KEY (role_id, scope)
);

CREATE TABLE user_roles (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id INTEGER NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, role_id)
);

-- "groups" is an SQL keyword (window frames), hence the prefix.
CREATE TABLE access_groups (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT    NOT NULL UNIQUE COLLATE NOCASE
);

CREATE TABLE group_members (
    group_id INTEGER NOT NULL REFERENCES access_groups (id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);

CREATE TABLE group_roles (
    group_id INTEGER NOT NULL REFERENCES access_groups (id) ON DELETE CASCADE,
    role_id  INTEGER NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, role_id)
);

CREATE TABLE sessions (
    id                 TEXT    PRIMARY KEY,
    token_hash         TEXT    NOT NULL UNIQUE,
    user_id            INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issued_at          INTEGER NOT NULL,
    expires_at         INTEGER NOT NULL,
    last_activity_at   INTEGER NOT NULL,
    recording_required INTEGER NOT NULL,
    consent            TEXT    NOT NULL,
    ended_at           INTEGER,
    end_reason         TEXT
);

CREATE INDEX sessions_live_by_user ON sessions (user_id) WHERE ended_at IS NULL;

CREATE TABLE session_tabs (
    session_id    TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    tab_id        TEXT    NOT NULL,
    opener_tab_id TEXT,
    registered_at INTEGER NOT NULL,
    PRIMARY KEY (session_id, tab_id)
);

CREATE TABLE audit (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    at            INTEGER NOT NULL,
    actor_user_id INTEGER,
    kind          TEXT    NOT NULL,
    session_id    TEXT,
    tab_id        TEXT,
    detail        TEXT    NOT NULL DEFAULT '{}'
);
