"""The stages over the store: scheduler, transitions, upload, submit, poll, fetch."""
