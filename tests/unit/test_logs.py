"""Logging: JSON lines with the standard fields, and no secret in any event."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
import structlog

from orchestrator.telemetry import logs


@pytest.fixture(autouse=True)
def _restore_structlog() -> Iterator[None]:
    """Tests here configure structlog for the process: put the defaults back after each."""
    yield
    structlog.reset_defaults()


def emit(**fields: object) -> dict[str, object]:
    stream = io.StringIO()
    logs.configure("info", "json", stream=stream)
    logs.get_logger().info("something.happened", **fields)
    result: dict[str, object] = json.loads(stream.getvalue().splitlines()[-1])
    return result


def test_json_line_has_event_level_timestamp() -> None:
    event = emit(manifest="m", job_id=3, operation_id="e03x")
    assert event["event"] == "something.happened"
    assert event["level"] == "info"
    assert str(event["timestamp"]).endswith("Z")
    assert (event["manifest"], event["job_id"], event["operation_id"]) == ("m", 3, "e03x")


def test_registered_secrets_are_removed_everywhere() -> None:
    logs.register_secret("s3cr3t-value-123")
    event = emit(
        error="upload failed with key s3cr3t-value-123 in it",
        nested={"detail": ["x", "s3cr3t-value-123"]},
    )
    text = json.dumps(event)
    assert "s3cr3t-value-123" not in text
    assert logs.REDACTED in text


def test_secret_named_fields_and_credential_shapes_are_masked() -> None:
    event = emit(
        api_key="abc",
        headers={"Authorization": "Api-Key AQVN-something"},
        message="sent Authorization: Bearer t1.9euelZ and url https://x/?key=hunter2&lang=ru",
    )
    text = json.dumps(event)
    for secret in ("AQVN-something", "t1.9euelZ", "hunter2"):
        assert secret not in text
    assert event["api_key"] == logs.REDACTED
    assert "lang=ru" in text


def test_console_format_for_a_terminal() -> None:
    stream = io.StringIO()
    logs.configure("warning", "console", stream=stream)
    logs.get_logger().info("hidden")
    logs.get_logger().warning("shown", job_id=1)
    out = stream.getvalue()
    assert "hidden" not in out
    assert "shown" in out
    assert not out.startswith("{")


def test_ids_without_a_value_are_left_out() -> None:
    event = emit(manifest="m", job_id=1, operation_id=None)
    assert "operation_id" not in event
    assert event["job_id"] == 1
