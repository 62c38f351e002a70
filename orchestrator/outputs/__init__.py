"""What goes out: rendered transcripts, atomic files, manifest reports."""
