"""trio tasks of the in-memory backend; each owns a mailbox and drives the sans-IO engine."""
