"""The config's ``hooks:`` section: every problem named by file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config import load_config
from orchestrator.core.errors import Problem, UserInputError
from orchestrator.core.hooks import OnFinish

SECRET = "hooks-signing-secret-123"


def load(tmp_path: Path, hooks: str, env: dict[str, str] | None = None) -> object:
    path = tmp_path / "config.yaml"
    path.write_text(f"storage:\n  bucket: audio\nhooks:\n{hooks}", "utf-8")
    return load_config(path, env={"HOOKS_SECRET": SECRET} if env is None else env)


def problems(tmp_path: Path, hooks: str) -> list[Problem]:
    with pytest.raises(UserInputError) as info:
        load(tmp_path, hooks)
    return info.value.problems


def test_every_key_is_read(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "  command: [/usr/local/bin/next, --queue, calls]\n"
        "  webhook: https://ci.example.org/hooks?token=x\n"
        "  secret_env: HOOKS_SECRET\n"
        "  command_timeout_s: 5\n"
        "  webhook_timeout_s: 2\n"
        "  max_attempts: 3\n"
        "  base_delay_s: 1\n"
        "  max_delay_s: 10\n"
        "  manifest_commands: [/usr/local/bin/notify]\n"
        "  manifest_webhooks: ['https://ci.example.org/manifests/']\n",
    )
    hooks = config.hooks  # type: ignore[attr-defined]
    assert hooks.on_finish == OnFinish(
        command=("/usr/local/bin/next", "--queue", "calls"),
        webhook="https://ci.example.org/hooks?token=x",
    )
    assert hooks.secret.reveal() == SECRET
    assert (hooks.command_timeout_s, hooks.webhook_timeout_s) == (5, 2)
    assert hooks.retry.max_attempts == 3
    assert hooks.policy.commands == ("/usr/local/bin/notify",)
    assert hooks.policy.webhooks == ("https://ci.example.org/manifests/",)


def test_no_section_no_hooks(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("storage:\n  bucket: audio\n", "utf-8")
    hooks = load_config(path, env={}).hooks
    assert hooks.on_finish.hooks("config") == ()
    assert hooks.policy.commands == hooks.policy.webhooks == ()


@pytest.mark.parametrize(
    ("hooks", "line", "field", "message"),
    [
        ("  command: /bin/echo hi\n", 4, "hooks.command", "must be a list"),
        ("  command: [echo, hi]\n", 4, "hooks.command[0]", "absolute path"),
        ("  command: []\n", 4, "hooks.command", "program"),
        ("  webhook: ftp://x.example/\n  secret_env: HOOKS_SECRET\n", 4, "hooks.webhook", "http"),
        (
            "  webhook: https://u:p@x.example/\n  secret_env: HOOKS_SECRET\n",
            4,
            "hooks.webhook",
            "credentials",
        ),
        ("  webhook: https://x.example/\n", 3, "hooks.secret_env", "signed"),
        ("  manifest_webhooks: [https://x.example/]\n", 3, "hooks.secret_env", "signed"),
        ("  manifest_commands: [notify]\n", 4, "hooks.manifest_commands[0]", "absolute"),
        ("  secret: inline-value-here\n", 4, "hooks.secret", "never written inline"),
        ("  max_delay_s: 1\n", 4, "hooks.max_delay_s", "at least base_delay_s"),
        ("  comand: [/bin/true]\n", 4, "hooks.comand", "did you mean 'command'"),
    ],
)
def test_problems_name_the_line_and_key(
    tmp_path: Path, hooks: str, line: int, field: str, message: str
) -> None:
    found = problems(tmp_path, hooks)
    assert len(found) == 1, found
    assert (found[0].line, found[0].field) == (line, field)
    assert message in found[0].message
    assert "inline-value-here" not in str(found[0])


def test_an_unencrypted_webhook_elsewhere_is_a_warning(tmp_path: Path) -> None:
    config = load(tmp_path, "  webhook: http://ci.example.org/x\n  secret_env: HOOKS_SECRET\n")
    assert any("unencrypted" in w.message for w in config.warnings)  # type: ignore[attr-defined]
    local = load(tmp_path, "  webhook: http://127.0.0.1:9/x\n  secret_env: HOOKS_SECRET\n")
    assert not local.warnings  # type: ignore[attr-defined]
