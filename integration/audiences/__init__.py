"""Audiences: the filter language, saved segments, exports and sync to destinations."""
