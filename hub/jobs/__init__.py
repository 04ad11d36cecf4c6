"""Background work: import jobs, the reconciler, and the queue they share."""
