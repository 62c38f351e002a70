"""``speechkit-orchestrator emulator`` as a real process, and the documentation's own flow."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import aiohttp
import pytest

from orchestrator.core.constants import V3_RESULT_PATH
from orchestrator.emulator import STATS_PATH, RunningEmulator
from tests.conftest import S3Server
from tests.support.emulator import TEST_API_KEY, emulator

ROOT = Path(__file__).resolve().parents[2]
DOC_FLOW = ROOT / "examples" / "doc_flow.py"
DOC_FLOW_V3 = ROOT / "examples" / "doc_flow_v3.py"
SECRET_KEY = "cli-secret-api-key-1234"

pytestmark = pytest.mark.e2e


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    return env


def test_cli_serves_until_sigint_and_exits_0(s3_server: S3Server) -> None:
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "orchestrator", "emulator", "--port", "0"),
            *("--api-key", SECRET_KEY, "--s3-endpoint", s3_server.endpoint_url, "--speed", "50"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        # Read the banner line by line: communicate() later would miss what readline buffered.
        banner = [process.stdout.readline()]
        while banner[-1] and "Ctrl-C" not in banner[-1]:
            banner.append(process.stdout.readline())
        first = "".join(banner)
        match = re.search(r"listening on (http://\S+)", first)
        assert match, first
        url = match.group(1)
        request = urllib.request.Request(
            url + "/operations/e03nosuchoperation00",
            headers={"Authorization": f"Api-Key {SECRET_KEY}"},
        )
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(request, timeout=10)
        assert raised.value.code == 404
        raised.value.close()
        with urllib.request.urlopen(url + STATS_PATH, timeout=10) as answer:
            stats = json.load(answer)
        assert stats["requests"] == {"GET /operations/{operation_id}": {"404": 1}}
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    printed = first + out
    assert "speed: 50.0" in printed
    assert "api_keys: 1 accepted" in printed
    assert SECRET_KEY not in printed + err
    assert "stopped" in out


def test_cli_bad_option_is_one_line_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "orchestrator", "emulator", "--port", "0", "--reset-rate", "2"],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=ROOT,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: emulator: reset_rate must be between 0 and 1, not 2.0"
    ]


async def _run_example(
    script: Path, audio_uri: str, *, emu: RunningEmulator, **urls: str
) -> tuple[bytes, str]:
    """Run one of the documentation's example scripts against ``emu``; what it printed,
    and the one operation it started."""
    env = {**_env(), "SPEECHKIT_API_KEY": TEST_API_KEY, "SPEECHKIT_OPERATION_URL": emu.url}
    env.update(urls)
    # The emulator runs in this event loop: wait for the script without blocking it.
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        audio_uri,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    (operation_id,) = emu.stats()["operations"]
    return out, operation_id


async def _read(url: str) -> str:
    """GET ``url`` with the test's API key, as the documentation's flow does: the body."""
    headers = {"Authorization": f"Api-Key {TEST_API_KEY}"}
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as answer:
        return await answer.text()


async def test_documentation_flow_works_against_the_emulator(
    s3_server: S3Server, s3_bucket: str, audio: dict[str, str]
) -> None:
    async with emulator(s3_server, speed=1000) as emu:
        out, operation_id = await _run_example(
            DOC_FLOW, audio["stereo.ogg"], SPEECHKIT_TRANSCRIBE_URL=emu.url, emu=emu
        )
        answer = await _read(f"{emu.url}/operations/{operation_id}")
        chunks = json.loads(answer)["response"]["chunks"]
    lines = out.decode().splitlines()
    assert lines[lines.index("Text chunks:") + 1 :] == [
        chunk["alternatives"][0]["text"] for chunk in chunks
    ]


async def test_documentation_v3_flow_works_against_the_emulator(
    s3_server: S3Server, s3_bucket: str, audio: dict[str, str]
) -> None:
    async with emulator(s3_server, speed=1000) as emu:
        out, operation_id = await _run_example(
            DOC_FLOW_V3, audio["stereo.wav"], SPEECHKIT_STT_URL=emu.url, emu=emu
        )
        answer = await _read(f"{emu.url}{V3_RESULT_PATH}?operationId={operation_id}")
        lines = [json.loads(line)["result"] for line in answer.splitlines()]
    expected = [
        f"{r['channelTag']}: {r['final']['alternatives'][0]['text']}" for r in lines if "final" in r
    ]
    printed = out.decode().splitlines()
    assert printed[printed.index("Final texts:") + 1 :] == expected
    assert {line.split(":")[0] for line in expected} == {"0", "1"}
