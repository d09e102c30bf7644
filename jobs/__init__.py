"""RQ job functions: thin, JSON-safe arguments (ids), one domain call each."""
