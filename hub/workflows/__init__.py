"""Ad-ops workflows on top of the stored rows: the IO lifecycle (and, to come, deals and matchmaking)."""
