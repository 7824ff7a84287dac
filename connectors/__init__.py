"""Application connectors: push and bind, rollback, sync status, push validation."""
