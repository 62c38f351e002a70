from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config import Config, Secret, config_from_mapping, load_config
from orchestrator.core.errors import Problem, UserInputError
from orchestrator.telemetry.logs import redact_text

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path, env: dict[str, str] | None = None) -> list[Problem]:
    with pytest.raises(UserInputError) as info:
        load_config(path, env=env or {})
    return info.value.problems


def one(found: list[Problem]) -> Problem:
    assert len(found) == 1, found
    return found[0]


def test_example_config_loads_with_every_default(tmp_path: Path) -> None:
    env = {
        "SPEECHKIT_API_KEY": "example-api-key-1",
        "S3_ACCESS_KEY_ID": "example-key-id",
        "S3_SECRET_ACCESS_KEY": "example-secret",
    }
    config = load_config(ROOT / "config.example.yaml", env=env)
    defaults = config_from_mapping({"storage": {"bucket": "my-speechkit-audio"}}, base_dir=ROOT)
    # The example documents the defaults: apart from credentials they must be the same.
    assert config.quotas == defaults.quotas
    assert config.concurrency == defaults.concurrency
    assert config.retry == defaults.retry
    assert config.polling == defaults.polling
    assert config.logging == defaults.logging
    assert config.status == defaults.status
    assert config.service == defaults.service
    assert config.paths == defaults.paths
    assert config.speechkit.transcribe_url == defaults.speechkit.transcribe_url
    assert config.storage.public_url_base == defaults.storage.public_url_base
    assert config.speechkit.auth_header() == {"Authorization": "Api-Key example-api-key-1"}
    assert config.storage.secret_access_key == Secret("example-secret")


def test_minimal_config_and_relative_paths(tmp_path: Path) -> None:
    path = write(tmp_path, "storage:\n  bucket: audio\npaths:\n  output: out/here\n")
    config = load_config(path, env={})
    assert isinstance(config, Config)
    assert config.storage.bucket == "audio"
    assert config.paths.output == tmp_path.resolve() / "out" / "here"
    assert config.paths.state_file == tmp_path.resolve() / "state" / "orchestrator.sqlite3"
    assert config.quotas.submissions == 500
    assert config.speechkit.api_key is None
    with pytest.raises(UserInputError):
        config.speechkit.auth_header()


def test_inline_secret_is_rejected_without_echo(tmp_path: Path) -> None:
    path = write(tmp_path, "speechkit:\n  api_key: AQVNtopsecret\nstorage:\n  bucket: audio\n")
    p = one(problems(path))
    assert (p.line, p.field) == (2, "speechkit.api_key")
    assert "api_key_env" in p.message
    assert "api_key_file" in p.message
    assert "AQVN" not in str(p)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "speechkit:\n"  # 1
        "  transcribe_url: ftp://nowhere\n"  # 2
        "  request_timeout_s: -1\n"  # 3
        "storage:\n"  # 4
        "  bucket: audio\n"  # 5
        "  multipart_chunk_bytes: 1024\n"  # 6
        "quotas:\n"  # 7
        "  submisions: 10\n"  # 8
        "  status_checks: 0\n"  # 9
        "  window_s: many\n"  # 10
        "concurrency:\n"  # 11
        "  uploads: 2.5\n"  # 12
        "logging:\n"  # 13
        "  level: loud\n"  # 14
        "retry:\n"  # 15
        "  base_delay_s: 10\n"  # 16
        "  max_delay_s: 5\n"  # 17
        "status:\n"  # 18
        "  listen_port: 70000\n"  # 19
        "servce: {}\n",  # 20
    )
    found = {(p.line, p.field): p.message for p in problems(path)}
    assert found[(2, "speechkit.transcribe_url")].startswith("must be an http")
    assert found[(3, "speechkit.request_timeout_s")] == "must be positive, got -1"
    assert "at least 5.24288e+06" in found[(6, "storage.multipart_chunk_bytes")]
    assert "did you mean 'submissions'?" in found[(8, "quotas.submisions")]
    assert found[(9, "quotas.status_checks")] == "must be at least 1, got 0"
    assert found[(10, "quotas.window_s")] == "must be a number, got a string"
    assert found[(12, "concurrency.uploads")] == "must be an integer, got a number"
    assert "allowed: debug, info" in found[(14, "logging.level")]
    assert found[(17, "retry.max_delay_s")] == "must be at least base_delay_s"
    assert found[(19, "status.listen_port")] == "must be at most 65535, got 70000"
    assert "did you mean 'service'?" in found[(20, "servce")]
    assert len(found) == 11
    lines = [line or 0 for line, _field in found]
    assert lines == sorted(lines)


def test_missing_bucket(tmp_path: Path) -> None:
    path = write(tmp_path, "quotas:\n  submissions: 5\n")
    p = one(problems(path))
    assert p.field == "storage.bucket"
    assert "missing" in p.message


def test_bad_bucket_name(tmp_path: Path) -> None:
    p = one(problems(write(tmp_path, "storage:\n  bucket: My_Bucket\n")))
    assert (p.line, p.field) == (2, "storage.bucket")


def test_empty_config(tmp_path: Path) -> None:
    assert "empty" in one(problems(write(tmp_path, "# nothing\n"))).message


def test_config_not_a_mapping(tmp_path: Path) -> None:
    p = one(problems(write(tmp_path, "- a\n- b\n")))
    assert "must be a mapping, got a list" in p.message


def test_yaml_syntax_error(tmp_path: Path) -> None:
    p = one(problems(write(tmp_path, "storage:\n  bucket: [audio\n")))
    assert p.line is not None
    assert "invalid YAML" in p.message


def test_env_var_not_set(tmp_path: Path) -> None:
    path = write(tmp_path, "speechkit:\n  api_key_env: MY_KEY\nstorage:\n  bucket: audio\n")
    p = one(problems(path))
    assert (p.line, p.field) == (2, "speechkit.api_key_env")
    assert p.message == "environment variable MY_KEY is not set"
    config = load_config(path, env={"MY_KEY": "from-env-value\n"})
    assert config.speechkit.api_key is not None
    assert config.speechkit.api_key.reveal() == "from-env-value"


def test_env_var_name_must_be_a_name(tmp_path: Path) -> None:
    path = write(tmp_path, "speechkit:\n  api_key_env: not a name\nstorage:\n  bucket: audio\n")
    assert "environment variable name" in one(problems(path)).message


def test_secret_file_missing_and_present(tmp_path: Path) -> None:
    text = "speechkit:\n  iam_token_file: secrets/token\nstorage:\n  bucket: audio\n"
    path = write(tmp_path, text)
    p = one(problems(path))
    assert (p.line, p.field) == (2, "speechkit.iam_token_file")
    assert "does not exist" in p.message
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "token").write_text("t0ken-value-1234\n", encoding="utf-8")
    config = load_config(path, env={})
    assert config.speechkit.auth_header() == {"Authorization": "Bearer t0ken-value-1234"}


def test_empty_secret_file(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("\n", encoding="utf-8")
    path = write(tmp_path, "speechkit:\n  api_key_file: key\nstorage:\n  bucket: audio\n")
    assert "is empty" in one(problems(path)).message


def test_systemd_credential(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "s3-secret").write_text("s3-secret-value-1234", encoding="utf-8")
    (creds / "s3-id").write_text("s3-id-value-1234", encoding="utf-8")
    path = write(
        tmp_path,
        "storage:\n  bucket: audio\n"
        "  access_key_id_credential: s3-id\n  secret_access_key_credential: s3-secret\n",
    )
    p = problems(path)[0]
    assert (p.line, p.field) == (3, "storage.access_key_id_credential")
    assert "CREDENTIALS_DIRECTORY" in p.message
    config = load_config(path, env={"CREDENTIALS_DIRECTORY": str(creds)})
    assert config.storage.secret_access_key is not None
    assert config.storage.secret_access_key.reveal() == "s3-secret-value-1234"


def test_two_sources_for_one_secret(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "speechkit:\n  api_key_env: A\n  api_key_file: f\nstorage:\n  bucket: audio\n",
    )
    p = one(problems(path, {"A": "value"}))
    assert (p.line, p.field) == (3, "speechkit.api_key_file")
    assert "only one of" in p.message


def test_api_key_and_iam_token_together(tmp_path: Path) -> None:
    path = write(
        tmp_path, "speechkit:\n  api_key_env: A\n  iam_token_env: B\nstorage:\n  bucket: audio\n"
    )
    p = one(problems(path, {"A": "a" * 20, "B": "b" * 20}))
    assert p.field == "speechkit"


def test_s3_keys_come_in_pairs(tmp_path: Path) -> None:
    path = write(tmp_path, "storage:\n  bucket: audio\n  access_key_id_env: A\n")
    p = one(problems(path, {"A": "a" * 20}))
    assert (p.line, p.field) == (1, "storage")
    assert "both" in p.message


def test_resolve_secrets_false_reads_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, "speechkit:\n  api_key_env: UNSET_VAR\nstorage:\n  bucket: audio\n")
    config = load_config(path, env={}, resolve_secrets=False)
    assert config.speechkit.api_key is None


def test_secret_prints_as_stars_and_is_redacted_from_logs() -> None:
    secret = Secret("super-secret-value-42")
    assert str(secret) == "***"
    assert "super" not in repr(secret)
    assert "super" not in repr(
        config_from_mapping(
            {"storage": {"bucket": "audio"}, "speechkit": {"api_key_env": "K"}},
            env={"K": "super-secret-value-42"},
        )
    )
    assert "super-secret-value-42" not in redact_text("sent super-secret-value-42 away")


def test_config_from_mapping_reports_problems_without_lines(tmp_path: Path) -> None:
    with pytest.raises(UserInputError) as info:
        config_from_mapping(
            {"storage": {"bucket": "audio"}, "quotas": {"window_s": 0}}, source="<demo>"
        )
    p = one(info.value.problems)
    assert (p.file, p.line, p.field) == ("<demo>", None, "quotas.window_s")


def test_config_from_mapping_accepts_paths(tmp_path: Path) -> None:
    config = config_from_mapping(
        {
            "storage": {"bucket": "audio"},
            "paths": {"output": tmp_path / "o"},
            "status": {"listen_port": None},
        },
        base_dir=tmp_path,
    )
    assert config.paths.output == tmp_path / "o"
    assert config.status.listen_port is None


def test_a_postgresql_state_store(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "storage: {bucket: b-1}\n"
        "state:\n  url: postgresql://orchestrator@db.internal:5432/speechkit\n"
        "  password_env: PG_PASSWORD\n"
        "service: {node: rec-01, lease_s: 20}\n"
        "outputs: {s3_prefix: transcripts}\n",
    )
    config = load_config(path, env={"PG_PASSWORD": "pg-secret-value"})
    assert config.state.url == "postgresql://orchestrator@db.internal:5432/speechkit"
    assert config.state.password is not None
    assert config.state.password.reveal() == "pg-secret-value"
    assert (config.service.node, config.service.lease_s) == ("rec-01", 20.0)
    assert config.outputs.s3_prefix == "transcripts/"
    # status, retry and cancel read the store's password, and no other secret.
    only_state = load_config(
        path, env={"PG_PASSWORD": "pg-secret-value"}, resolve_secrets=False, resolve_state=True
    )
    assert only_state.state.password == config.state.password


def test_state_store_problems_never_show_a_password(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "storage: {bucket: b-1}\n"
        "state: {url: 'postgresql://u:hunter2-secret@db/x'}\n"
        "service: {node: 'a:b', lease_s: 0}\n"
        "outputs: {s3_prefix: ../up}\n",
    )
    found = problems(path)
    text = "\n".join(str(p) for p in found)
    assert "hunter2-secret" not in text
    assert [p.field for p in found] == [
        "state.url",
        "service.node",
        "service.lease_s",
        "outputs.s3_prefix",
    ]
    assert "password_env" in found[0].message
    wrong = write(tmp_path, "storage: {bucket: b-1}\nstate: {url: 'mysql://db/x'}\n")
    assert "postgresql://" in one(problems(wrong)).message
    lonely = write(tmp_path, "storage: {bucket: b-1}\nstate: {password_env: X}\n")
    assert "needs a url" in one(problems(lonely, {"X": "long-enough-password"})).message


def test_a_secret_too_short_to_redact_safely_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "speechkit:\n  api_key_env: K\nstorage:\n  bucket: audio\n")
    p = one(problems(path, env={"K": "abc12"}))
    assert (p.line, p.field) == (2, "speechkit.api_key_env")
    assert "too short" in p.message
    assert "abc12" not in str(p)
    secret_file = tmp_path / "key"
    secret_file.write_text("tiny\n", "utf-8")
    secret_file.chmod(0o600)
    text = f"speechkit:\n  api_key_file: {secret_file}\nstorage:\n  bucket: audio\n"
    path = write(tmp_path, text)
    assert "too short" in one(problems(path)).message


def test_a_secret_file_readable_by_others_gets_a_warning(tmp_path: Path) -> None:
    secret_file = tmp_path / "api-key"
    secret_file.write_text("a-long-enough-api-key\n", "utf-8")
    path = write(tmp_path, "speechkit:\n  api_key_file: api-key\nstorage:\n  bucket: audio\n")
    path.chmod(0o644)  # the config holds no secret: readable by all is its normal mode
    secret_file.chmod(0o644)
    (warning,) = load_config(path, env={}).warnings
    assert (warning.line, warning.field) == (2, "speechkit.api_key_file")
    assert str(secret_file) in warning.message
    assert "readable by other users" in warning.message
    secret_file.chmod(0o600)
    assert load_config(path, env={}).warnings == ()


def test_a_config_others_may_write_gets_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path, "storage:\n  bucket: audio\n")
    path.chmod(0o666)
    (warning,) = load_config(path, env={}).warnings
    assert "writable by other users" in warning.message
    path.chmod(0o644)
    assert load_config(path, env={}).warnings == ()


def test_input_roots_default_to_the_config_directory(tmp_path: Path) -> None:
    path = write(tmp_path, "storage:\n  bucket: audio\n")
    assert load_config(path, env={}).paths.input_roots == (tmp_path.resolve(),)
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real)
    path = write(
        tmp_path, "storage:\n  bucket: audio\npaths:\n  input_roots: [alias, /srv/nowhere]\n"
    )
    config = load_config(path, env={})
    # Resolved, symlinks included, so that the check compares real paths.
    assert config.paths.input_roots == (real.resolve(), Path("/srv/nowhere"))
    (warning,) = config.warnings
    assert (warning.line, warning.field) == (4, "paths.input_roots[1]")
    assert "not a directory" in warning.message


def test_input_roots_must_be_a_list_of_paths(tmp_path: Path) -> None:
    path = write(tmp_path, "storage:\n  bucket: audio\npaths:\n  input_roots: []\n")
    assert "at least one directory" in one(problems(path)).message
    path = write(tmp_path, "storage:\n  bucket: audio\npaths:\n  input_roots: [1]\n")
    assert one(problems(path)).field == "paths.input_roots[0]"


def test_results_on_disk_in_object_storage_or_both(tmp_path: Path) -> None:
    def outputs(text: str) -> tuple[str | None, bool, bool]:
        found = load_config(write(tmp_path, f"storage: {{bucket: b-1}}\n{text}"), env={})
        return found.outputs.s3_prefix, found.outputs.local, found.outputs.objects_only

    assert outputs("") == (None, True, False)
    assert outputs("outputs: {s3_prefix: t}\n") == ("t/", False, True)  # as before: objects only
    assert outputs("outputs: {s3_prefix: t, local: true}\n") == ("t/", True, False)
    assert outputs("outputs: {local: true}\n") == (None, True, False)
    (problem,) = problems(write(tmp_path, "storage: {bucket: b-1}\noutputs: {local: false}\n"))
    assert (problem.field, problem.line) == ("outputs.local", 2)
    assert "set s3_prefix too" in problem.message


def test_a_password_in_the_state_urls_query_is_refused(tmp_path: Path) -> None:
    # libpq and asyncpg take ?password= as well as user:password@: neither is written inline.
    for query in ("password=hunter2-secret", "sslmode=verify-full&PassWord=hunter2-secret"):
        path = write(
            tmp_path,
            f"storage: {{bucket: b-1}}\nstate: {{url: 'postgresql://u@db/x?{query}'}}\n",
        )
        found = one(problems(path))
        assert found.field == "state.url"
        assert "password_env" in found.message
        assert "hunter2-secret" not in str(found)
