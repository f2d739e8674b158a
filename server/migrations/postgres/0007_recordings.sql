-- Session recording (issue 11): each tab's uploaded chunks, and every API request of a
-- recorded session as the server saw it. The same tables, meaning and grants as
-- migrations/sqlite/0007_recordings.sql.

CREATE TABLE recording_chunks (
    session_id TEXT   NOT NULL,
    tab_id     TEXT   NOT NULL,
    seq        BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at   BIGINT NOT NULL,
    stored_at  BIGINT NOT NULL,
    size       BIGINT NOT NULL,
    digest     TEXT   NOT NULL,
    body       BYTEA  NOT NULL,
    PRIMARY KEY (session_id, tab_id, seq),
    FOREIGN KEY (session_id, tab_id) REFERENCES session_tabs (session_id, tab_id)
        ON DELETE CASCADE
);

CREATE TABLE recording_actions (
    session_id TEXT   NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    tab_id     TEXT,
    at         BIGINT NOT NULL,
    method     TEXT   NOT NULL,
    path       TEXT   NOT NULL,
    status     BIGINT NOT NULL,
    -- Insertion order (SQLite's rowid), for ties of equal timestamps.
    seq        BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX recording_actions_by_session ON recording_actions (session_id, at);
CREATE INDEX recording_actions_by_time ON recording_actions (at);

INSERT INTO role_scopes (role_id, scope)
    SELECT role_id, 'recordings:read' FROM role_scopes WHERE scope = 'audit:read'
    ON CONFLICT DO NOTHING;

INSERT INTO role_scopes (role_id, scope)
    SELECT role_id, 'recordings:delete' FROM role_scopes WHERE scope = 'admin:manage'
    ON CONFLICT DO NOTHING;
