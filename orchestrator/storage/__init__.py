"""Object storage behind one interface (``protocol``): S3 (``s3``), a local directory
(``local``), the configured one built by ``factory``."""
