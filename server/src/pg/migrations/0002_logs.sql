-- Cluster mode's storage. PostgreSQL keeps the order (sequence numbers,
-- idempotency keys, the floor), small entries, and the names of the
-- objects that hold snapshots, large entries and chunks. Objects are
-- written once under names never reused; nothing depends on conditional
-- writes in the object store.

-- The token signing secret, shared by every node.
CREATE TABLE secrets (
    name        TEXT PRIMARY KEY,
    value       BYTEA NOT NULL,
    created_at  BIGINT NOT NULL
);

-- One row per workspace log: the row every writer of it locks.
CREATE TABLE logs (
    workspace_id  TEXT PRIMARY KEY,
    head          BIGINT NOT NULL DEFAULT 0,
    floor         BIGINT NOT NULL DEFAULT 0,
    -- Live entries (payload and frame header each) and the snapshot.
    bytes         BIGINT NOT NULL DEFAULT 0,
    snapshot      TEXT,
    snapshot_len  BIGINT NOT NULL DEFAULT 0,
    -- The last compaction's number.
    compactions   BIGINT NOT NULL DEFAULT 0
);

-- Entries: the payload inline when small, else the object holding it.
-- `dropped_by` is the compaction that covers the entry (kept until that
-- compaction can no longer be undone); NULL while it is live.
CREATE TABLE entries (
    workspace_id  TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    len           BIGINT NOT NULL,
    payload       BYTEA,
    object        TEXT,
    dropped_by    BIGINT,
    PRIMARY KEY (workspace_id, seq),
    CHECK ((payload IS NULL) <> (object IS NULL))
);

-- Idempotency keys, with the body's hash to tell a retry from a reuse.
CREATE TABLE entry_keys (
    workspace_id  TEXT NOT NULL,
    key           TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    hash          BYTEA NOT NULL,
    PRIMARY KEY (workspace_id, key)
);

-- Compactions that can still be undone: what each replaced.
CREATE TABLE compactions (
    workspace_id       TEXT NOT NULL,
    id                 BIGINT NOT NULL,
    made_at            BIGINT NOT NULL,
    prev_floor         BIGINT NOT NULL,
    prev_snapshot      TEXT,
    prev_snapshot_len  BIGINT NOT NULL,
    new_snapshot       TEXT NOT NULL,
    PRIMARY KEY (workspace_id, id)
);

-- Attached files' chunks: the object holding each, and when it was set
-- aside for deletion (NULL: in use).
CREATE TABLE chunks (
    workspace_id  TEXT NOT NULL,
    name          TEXT NOT NULL,
    len           BIGINT NOT NULL,
    object        TEXT NOT NULL,
    set_aside_at  BIGINT,
    PRIMARY KEY (workspace_id, name)
);
CREATE INDEX chunks_set_aside ON chunks (workspace_id) WHERE set_aside_at IS NOT NULL;

-- Objects that may hold nothing anyone points to: written before the
-- transaction that names them (which deletes the row), or named by a
-- transaction that let go of them. A sweep deletes those older than a
-- grace period, so a crash anywhere leaves nothing behind for good.
CREATE TABLE garbage (
    object  TEXT PRIMARY KEY,
    since   BIGINT NOT NULL
);

-- Chores that run once across the cluster: who may run each next.
CREATE TABLE jobs (
    name      TEXT PRIMARY KEY,
    last_run  BIGINT NOT NULL
);
