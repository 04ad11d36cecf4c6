"""Push-side endpoints: platforms and sheets call these; each verifies, persists, enqueues and answers at once."""
