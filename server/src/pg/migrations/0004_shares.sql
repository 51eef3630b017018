-- Public read-only links to one note: the chunks of the workspace each
-- may read (the sealed note, then its files, space-separated names) and
-- when it ends. The key is in the link alone. As the single node's SQLite
-- index has it after its eighth migration.
CREATE TABLE shares (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    document      TEXT NOT NULL,
    chunks        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX shares_by_workspace ON shares (workspace_id);
CREATE INDEX shares_by_expiry ON shares (expires_at);
