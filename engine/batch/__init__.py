"""Running work: the batch service and its coordinator, the sync path, the in-flight window, response reuse, orphans, idempotency."""
