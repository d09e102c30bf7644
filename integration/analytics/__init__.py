"""What the numbers say: contact statistics and their history, RFM, the leaderboard."""
