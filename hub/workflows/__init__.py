"""Ad-ops workflows on top of the stored rows: the IO lifecycle, deals, matchmaking and dashboards."""
