"""Pull-side clients of each platform: they know their platform, never SQL."""
