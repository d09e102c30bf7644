"""The demo account: a seeded generator and the run that feeds it through the inbox."""
