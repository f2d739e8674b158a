-- Session recording (issue 11): each tab's uploaded chunks, and every API request of a
-- recorded session as the server saw it.

-- One uploaded chunk of one tab's recording, stored as it arrived (gzip). `seq` runs
-- 0, 1, 2, ... per tab without gaps; `digest` (SHA-256 of the decompressed content) tells
-- a retry of the same chunk from a different one. The chunks go with their tab.
CREATE TABLE recording_chunks (
    session_id TEXT    NOT NULL,
    tab_id     TEXT    NOT NULL,
    seq        INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at   INTEGER NOT NULL,
    stored_at  INTEGER NOT NULL,
    size       INTEGER NOT NULL,
    digest     TEXT    NOT NULL,
    body       BLOB    NOT NULL,
    PRIMARY KEY (session_id, tab_id, seq),
    FOREIGN KEY (session_id, tab_id) REFERENCES session_tabs (session_id, tab_id)
        ON DELETE CASCADE
);

-- One API request of a recorded session: the tab only when the request named a tab
-- registered to that session. The path has no query.
CREATE TABLE recording_actions (
    session_id TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    tab_id     TEXT,
    at         INTEGER NOT NULL,
    method     TEXT    NOT NULL,
    path       TEXT    NOT NULL,
    status     INTEGER NOT NULL
);
CREATE INDEX recording_actions_by_session ON recording_actions (session_id, at);
-- The retention purge deletes old actions by time.
CREATE INDEX recording_actions_by_time ON recording_actions (at);

-- Recordings get their own scopes. Whoever could read the audit log may review
-- recordings; whoever manages users may delete one. Nobody loses what they could do.
INSERT OR IGNORE INTO role_scopes (role_id, scope)
    SELECT role_id, 'recordings:read' FROM role_scopes WHERE scope = 'audit:read';

INSERT OR IGNORE INTO role_scopes (role_id, scope)
    SELECT role_id, 'recordings:delete' FROM role_scopes WHERE scope = 'admin:manage';
