"""storepulse's own API source: records in our documented JSON shapes."""
