"""Contacts: who a record is about, engagement groups, lists and the customer profile."""
