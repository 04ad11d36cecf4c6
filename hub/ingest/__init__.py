"""The one ingest pipeline: intake, readers, validation, the tables and their upserts."""
