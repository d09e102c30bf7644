"""What the tests share: builders of records, fixtures, servers, processes and job functions."""
