"""Completion hooks, the pure part: who may ask for what, the signature, what follows."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from orchestrator.core.backoff import RetryPolicy
from orchestrator.core.hooks import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Attempt,
    Hook,
    HookPolicy,
    OnFinish,
    after_attempt,
    command_outcome,
    shown_url,
    sign,
    signature_headers,
    tail,
    url_allowed,
    url_problem,
    verify,
    webhook_outcome,
)

ALLOWED = ("https://ci.example.org/hooks", "http://127.0.0.1:8080/")


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://ci.example.org/hooks", True),
        ("https://ci.example.org/hooks/calls", True),
        ("https://CI.example.org./hooks/calls?x=1", True),  # host case, trailing dot
        ("https://ci.example.org:443/hooks/x", True),  # the default port spelled out
        ("https://ci.example.org/hooksmith", False),  # not on a / boundary
        ("https://ci.example.org/", False),  # above the allowed path
        ("http://ci.example.org/hooks", False),  # another scheme
        ("https://ci.example.org:8443/hooks", False),  # another port
        ("https://ci.example.org.evil.net/hooks", False),  # another host
        ("https://ci.example.org@evil.net/hooks", False),  # credentials and another host
        ("https://ci.example.org/hooks/../admin", False),
        ("https://ci.example.org/hooks/%2e%2e/admin", False),
        ("http://127.0.0.1:8080/anything", True),
        ("http://127.0.0.1:8081/anything", False),
        ("ftp://ci.example.org/hooks", False),
        ("not a url", False),
    ],
)
def test_a_manifest_webhook_must_be_under_an_allowed_url(url: str, allowed: bool) -> None:
    assert url_allowed(url, ALLOWED) is allowed


@pytest.mark.parametrize(
    "url",
    [
        "https://ci.example.org/hooks/x%2F..%2F..%2Fadmin%2Fdelete-everything",
        "https://ci.example.org/hooks/x%2f..%2fadmin",
        "https://ci.example.org/hooks/x%252F..%252Fadmin",  # encoded twice
        "https://ci.example.org/hooks/..;/admin",
        "https://ci.example.org/hooks/%2e%2e;x=1/admin",
        "https://ci.example.org/hooks/.;/x",
        "https://ci.example.org/hooks/%252e%252e/admin",
        "https://ci.example.org/hooks\\..\\admin",
        "https://ci.example.org/hooks/x%5C..%5Cadmin",
        "https://ci.example.org\\.evil.net/hooks",
        "https://ci.example.org/hooks/./x",
    ],
)
def test_the_allow_list_compares_decoded_paths_and_refuses_encoded_separators(url: str) -> None:
    assert not url_allowed(url, ALLOWED)
    assert url_problem(url) is not None


def test_the_allow_list_compares_after_decoding() -> None:
    # %68 is "h": the receiver sees /hooks/x, and so does the allow-list.
    assert url_allowed("https://ci.example.org/%68ooks/x", ALLOWED)
    assert not url_allowed("https://ci.example.org/hook%73mith", ALLOWED)


def test_nothing_is_allowed_by_default() -> None:
    policy = HookPolicy()
    assert policy.refusal(Hook("webhook", "manifest", url="https://ci.example.org/hooks"))
    assert policy.refusal(Hook("command", "manifest", command=("/bin/true",)))


def test_the_configs_own_hooks_are_always_allowed() -> None:
    policy = HookPolicy()
    assert policy.refusal(Hook("webhook", "config", url="https://anywhere.example/")) is None
    assert policy.refusal(Hook("command", "config", command=("/bin/true",))) is None


def test_a_manifest_command_runs_only_a_listed_program() -> None:
    policy = HookPolicy(commands=("/usr/local/bin/notify",))
    listed = Hook("command", "manifest", command=("/usr/local/bin/notify", "-x"))
    assert policy.refusal(listed) is None
    refusal = policy.refusal(Hook("command", "manifest", command=("/bin/sh", "-c", "rm")))
    assert refusal is not None
    assert "/usr/local/bin/notify" in refusal
    assert "hooks.manifest_commands" in refusal


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://ci.example.org/x", None),
        ("http://127.0.0.1:9/x?token=1", None),
        ("https://user:pw@ci.example.org/", "credentials"),
        ("file:///etc/passwd", "http"),
        ("https://ci.example.org/x#frag", "fragment"),
        ("https://ci.example.org:99999/", "not a URL"),
    ],
)
def test_webhook_urls_are_checked(url: str, problem: str | None) -> None:
    found = url_problem(url)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


def test_logs_show_a_url_without_its_query_or_credentials() -> None:
    assert shown_url("https://u:p@ci.example.org:8443/h/x?token=secret") == (
        "https://ci.example.org:8443/h/x"
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "https://hooks.slack.com/services/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",
            "https://hooks.slack.com/services/T0A1B2C3D/B0E4F5G6H/[REDACTED]",
        ),
        (
            "https://discord.com/api/webhooks/123456789012345678/Ab-cD_eF1gH2iJ3kL4mN5oP6",
            "https://discord.com/api/webhooks/123456789012345678/[REDACTED]",
        ),
        ("https://ci.example.org/hooks/calls-2024", "https://ci.example.org/hooks/calls-2024"),
    ],
)
def test_a_shown_url_masks_the_tokens_in_its_path(url: str, shown: str) -> None:
    assert shown_url(url) == shown
    hook = Hook("webhook", "manifest", url=url + "?access_token=zz-tok-value")
    assert hook.target == shown


def test_on_finish_round_trips_and_lists_its_hooks() -> None:
    on_finish = OnFinish(command=("/bin/echo", "hi"), webhook="https://ci.example.org/h")
    assert OnFinish.from_dict(on_finish.to_dict()) == on_finish
    hooks = on_finish.hooks("manifest")
    assert [h.kind for h in hooks] == ["command", "webhook"]
    assert all(h.origin == "manifest" for h in hooks)
    for hook in hooks:
        # The store keeps what may be shown, never the arguments nor the URL's query.
        stored = Hook.from_target(hook.kind, hook.origin, hook.target_dict())
        assert (stored.kind, stored.origin, stored.target) == (hook.kind, hook.origin, hook.target)
        assert (stored.command, stored.url) == ((), "")


URL = "https://ci.example.org/hooks/calls?team=ops"


def test_the_signature_is_hmac_sha256_over_id_timestamp_url_and_body() -> None:
    body = b'{"manifest": "calls"}'
    signed = b"v2\nd-1\n1700000000\n" + URL.encode() + b"\n" + body
    expected = hmac.new(b"s3cret-key-123", signed, hashlib.sha256)
    assert sign("s3cret-key-123", "d-1", 1700000000, URL, body) == (
        "v2,sha256=" + expected.hexdigest()
    )
    headers = signature_headers("s3cret-key-123", "d-1", 1700000000, URL, body)
    assert headers[SIGNATURE_HEADER].startswith("v2,")  # the scheme's version, for receivers


def test_a_receiver_verifies_and_refuses_tampering_and_replays() -> None:
    body = b'{"manifest": "calls"}'
    headers = signature_headers("s3cret-key-123", "d-1", 1700000000, URL, body)
    assert verify("s3cret-key-123", headers, body, URL, now=1700000010)
    assert not verify("another-secret-1", headers, body, URL, now=1700000010)
    assert not verify("s3cret-key-123", headers, body + b" ", URL, now=1700000010)
    assert not verify("s3cret-key-123", headers, body, URL, now=1700000000 + 301)  # a replay
    moved = {**headers, DELIVERY_HEADER: "d-2"}  # another delivery id: not signed
    assert not verify("s3cret-key-123", moved, body, URL, now=1700000010)
    restamped = {**headers, TIMESTAMP_HEADER: "1700000100"}
    assert not verify("s3cret-key-123", restamped, body, URL, now=1700000100)
    assert not verify("s3cret-key-123", {SIGNATURE_HEADER: "sha256=00"}, body, URL, 1700000000)


def test_a_delivery_signed_for_one_url_does_not_verify_at_another() -> None:
    # A receiver a manifest may POST to cannot replay what it got to the operator's own.
    body = b'{"manifest": "calls"}'
    manifests = "https://ci.example.org/hooks/team-a"
    operators = "https://ops.example.org/speechkit"
    headers = signature_headers("s3cret-key-123", "d-1", 1700000000, manifests, body)
    assert verify("s3cret-key-123", headers, body, manifests, now=1700000010)
    assert not verify("s3cret-key-123", headers, body, operators, now=1700000010)
    # The old scheme's signature (id, timestamp, body) is not taken either.
    old = hmac.new(b"s3cret-key-123", b"d-1.1700000000." + body, hashlib.sha256)
    downgraded = {**headers, SIGNATURE_HEADER: "sha256=" + old.hexdigest()}
    assert not verify("s3cret-key-123", downgraded, body, operators, now=1700000010)


POLICY = RetryPolicy(max_attempts=3, base_delay_s=2.0, max_delay_s=60.0)


def test_a_delivered_attempt_ends_the_delivery() -> None:
    got = after_attempt(Attempt(ok=True), 1, POLICY, now=100.0, rand=0.5)
    assert (got.state, got.attempts, got.error) == ("delivered", 1, None)


def test_a_retryable_failure_backs_off_until_the_last_attempt() -> None:
    failure = Attempt(ok=False, error="HTTP 503", retryable=True)
    first = after_attempt(failure, 1, POLICY, now=100.0, rand=0.5)
    assert first.state == "pending"
    assert first.next_attempt_at == 101.0  # half of the 2 s ceiling
    second = after_attempt(failure, 2, POLICY, now=100.0, rand=0.5)
    assert second.next_attempt_at == 102.0  # the ceiling doubled
    last = after_attempt(failure, 3, POLICY, now=100.0, rand=0.5)
    assert (last.state, last.error) == ("failed", "HTTP 503")


def test_retry_after_is_honoured() -> None:
    failure = Attempt(ok=False, error="HTTP 429", retryable=True, retry_after=30.0)
    assert after_attempt(failure, 1, POLICY, now=100.0, rand=0.5).next_attempt_at == 130.0


def test_a_permanent_failure_fails_at_once() -> None:
    got = after_attempt(webhook_outcome(404), 1, POLICY, now=100.0, rand=0.5)
    assert (got.state, got.error) == ("failed", "HTTP 404")


@pytest.mark.parametrize(
    ("status", "ok", "retryable"),
    [
        (200, True, False),
        (204, True, False),
        (301, False, False),
        (400, False, False),
        (401, False, False),
        (408, False, True),
        (429, False, True),
        (500, False, True),
        (503, False, True),
    ],
)
def test_what_an_http_status_means(status: int, ok: bool, retryable: bool) -> None:
    outcome = webhook_outcome(status)
    assert (outcome.ok, outcome.retryable) == (ok, retryable)


def test_what_a_commands_end_means() -> None:
    assert command_outcome(0, "", timed_out=False).ok
    failed = command_outcome(3, "no route to host", timed_out=False)
    assert (failed.ok, failed.retryable, failed.error) == (
        False,
        True,
        "exit status 3: no route to host",
    )
    assert command_outcome(None, "", timed_out=True).error == "timed out (killed)"
    assert command_outcome(-9, "", timed_out=False).error == "killed by signal 9"


def test_a_tail_is_bounded_and_on_one_line() -> None:
    assert tail(b"one\n\ntwo\n", 100) == "one | two"
    assert tail(b"x" * 50 + b"END", 10) == "...xxxxxxxEND"
    assert tail(b"\xff\xfeok", 100).endswith("ok")
