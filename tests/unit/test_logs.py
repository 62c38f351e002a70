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


def emit_line(**fields: object) -> str:
    stream = io.StringIO()
    logs.configure("info", "json", stream=stream)
    logs.get_logger().error("something.happened", **fields)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    return lines[0]


def test_no_line_exceeds_what_journald_keeps_whole() -> None:
    line = emit_line(
        problems=[f"problem {i}: " + "x" * 200 for i in range(5000)],
        error="y" * 1_000_000,
        nested={"deep": ["z" * 100_000] * 100},
        manifest="m",
    )
    assert len(line.encode()) < logs.MAX_LINE_BYTES <= 48 * 1024
    event = json.loads(line)
    # What matters survives: the event, its level, the short fields, the start of the rest.
    assert event["event"] == "something.happened"
    assert (event["level"], event["manifest"]) == ("error", "m")
    assert event["error"].startswith("yyyy")
    assert event["problems"][0].startswith("problem 0: ")


def test_every_field_is_bounded_even_in_a_short_line() -> None:
    event = json.loads(emit_line(error="e" * 20_000, items=list(range(1000))))
    assert len(event["error"]) <= logs.MAX_FIELD_CHARS + 40
    assert "more characters" in event["error"]
    assert len(event["items"]) <= logs.MAX_ITEMS + 1


def test_a_secret_too_short_to_redact_is_refused() -> None:
    for short in ("abc", "abcd", "x" * (logs.MIN_SECRET_CHARS - 1)):
        with pytest.raises(ValueError, match="too short"):
            logs.register_secret(short)
    # Nothing was registered: the letters of a short secret are not masked all over.
    assert json.loads(emit_line(message="a cab backs abcd"))["message"] == "a cab backs abcd"


def test_every_secret_named_query_value_is_masked() -> None:
    # Any parameter whose name holds a secret's word, however spelt around it.
    text = logs.redact_text(
        "POST https://hooks.example/x?access_token=zz-tok-value&team=ops-room failed; "
        "and http://h/y?lang=ru&sig=abc123def&X-Goog-Signature=0a1b2c3d4e&my_api_key=k-1-2-3"
    )
    for secret in ("zz-tok-value", "abc123def", "0a1b2c3d4e", "k-1-2-3"):
        assert secret not in text
    assert "https://hooks.example/x?access_token=" in text
