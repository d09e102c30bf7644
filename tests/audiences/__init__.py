"""Tests of audiences: the filter language and syncs to destinations."""
