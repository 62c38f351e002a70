"""What comes in: manifests, audio probing, the inbox (a manifest file's whole life)."""
