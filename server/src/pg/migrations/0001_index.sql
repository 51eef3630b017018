-- The token index, as the single node's SQLite index has it after its
-- sixth migration: workspaces, tokens, invites, setup codes, key epochs,
-- recovery credentials and device key wraps. Deleting a workspace deletes
-- what belongs to it.
CREATE TABLE workspaces (
    id          TEXT PRIMARY KEY,
    label       TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE TABLE tokens (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    role          TEXT NOT NULL CHECK (role IN ('master', 'access')),
    scope         TEXT NOT NULL CHECK (scope IN ('rw', 'ro')),
    label         TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT,
    last_seen_at  BIGINT,
    revoked_at    BIGINT,
    public_key    BYTEA
);
CREATE INDEX tokens_by_workspace ON tokens (workspace_id);
CREATE TABLE invites (
    secret_hash   BYTEA PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    scope         TEXT NOT NULL CHECK (scope IN ('rw', 'ro')),
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    used_at       BIGINT,
    token_id      TEXT,
    wrapped_key   BYTEA
);
CREATE INDEX invites_by_workspace ON invites (workspace_id);
CREATE INDEX invites_by_expiry ON invites (expires_at);
CREATE TABLE setup_codes (
    code_hash   BYTEA PRIMARY KEY,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE TABLE key_epochs (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    epoch         BIGINT NOT NULL CHECK (epoch > 0),
    key_check     BYTEA NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, epoch)
);
CREATE TABLE recovery (
    workspace_id     TEXT PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
    credential_hash  BYTEA NOT NULL UNIQUE,
    wrapped_keys     TEXT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE TABLE device_wraps (
    token_id    TEXT NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,
    epoch       BIGINT NOT NULL CHECK (epoch > 0),
    wrapped     BYTEA NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (token_id, epoch)
);
