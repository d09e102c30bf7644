"""What operators watch: health, backlog, metrics and logs."""
