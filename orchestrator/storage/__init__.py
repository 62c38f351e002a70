"""Object storage (S3-compatible): content-addressed upload, exists, delete."""
