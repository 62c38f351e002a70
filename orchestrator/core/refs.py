"""Objects in storage: ``s3://BUCKET/KEY`` references and the links SpeechKit fetches (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

SCHEME = "s3://"
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def is_object_uri(text: str) -> bool:
    """True for text that names an object (``s3://...``), well formed or not."""
    return text.startswith(SCHEME)


@dataclass(frozen=True)
class ObjectRef:
    """One object: its bucket and key."""

    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> ObjectRef:
        """``s3://BUCKET/KEY`` -> ObjectRef; ValueError saying what is wrong otherwise."""
        if not is_object_uri(uri):
            raise ValueError("must start with s3://")
        bucket, _, key = uri[len(SCHEME) :].partition("/")
        if not _BUCKET_RE.fullmatch(bucket) or not key or key.endswith("/"):
            raise ValueError("must be s3://BUCKET/KEY naming one object")
        return cls(bucket, key)

    def __str__(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.key}"

    def link(self, public_url_base: str) -> str:
        """The path-style link the service fetches the object from; the key is
        percent-encoded (a key may hold spaces, '#', '?' or non-ASCII letters)."""
        return f"{public_url_base.rstrip('/')}/{self.bucket}/{quote(self.key, safe='/~')}"
