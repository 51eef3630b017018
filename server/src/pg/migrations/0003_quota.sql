-- The operator's quota of one workspace (`hearth admin quota`), in bytes;
-- NULL: the nodes' `--workspace-quota-bytes`. As the single node's SQLite
-- index has it after its seventh migration.
ALTER TABLE workspaces ADD COLUMN quota_bytes BIGINT CHECK (quota_bytes >= 0);
