"""What the daemon tells the world about itself: structured logs and metrics."""
