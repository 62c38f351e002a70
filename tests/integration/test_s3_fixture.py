from __future__ import annotations

from tests.conftest import S3Server


def test_bucket_roundtrip(s3_server: S3Server, s3_bucket: str) -> None:
    client = s3_server.client()
    client.put_object(Bucket=s3_bucket, Key="a/b.txt", Body=b"hello")  # type: ignore[attr-defined]
    body = client.get_object(Bucket=s3_bucket, Key="a/b.txt")["Body"].read()  # type: ignore[attr-defined]
    assert body == b"hello"
