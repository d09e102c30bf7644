"""Tests of analytics: statistics, history, RFM and the leaderboard."""
