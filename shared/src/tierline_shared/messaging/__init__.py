"""Reliable messaging: CloudEvents binding, transactional outbox, idempotent consumers."""
