"""Pure: job states, quotas, polling, backoff, billing, transcripts, decisions. No I/O, no clock."""
