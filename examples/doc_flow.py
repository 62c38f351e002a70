"""The SpeechKit documentation's own asynchronous flow, with `requests` only.

Submit a file for recognition (API v2), then ask for the operation every second until it is
done, and print the text. It knows nothing of this project: point it at the real service or
at the emulator by changing the hosts.

    python examples/doc_flow.py https://storage.yandexcloud.net/<bucket>/<key>

Environment: SPEECHKIT_API_KEY (required), SPEECHKIT_TRANSCRIBE_URL (default
https://transcribe.api.cloud.yandex.net), SPEECHKIT_OPERATION_URL (default
https://operation.api.cloud.yandex.net). Optional second argument: the audio encoding.
"""

from __future__ import annotations

import os
import sys
import time

import requests


def main(argv: list[str]) -> int:
    """Recognise the audio named by argv[1] and print its text, one chunk per line."""
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    key = os.environ.get("SPEECHKIT_API_KEY")
    if not key:
        print("error: set SPEECHKIT_API_KEY", file=sys.stderr)
        return 2
    transcribe = os.environ.get(
        "SPEECHKIT_TRANSCRIBE_URL", "https://transcribe.api.cloud.yandex.net"
    )
    operation = os.environ.get("SPEECHKIT_OPERATION_URL", "https://operation.api.cloud.yandex.net")
    encoding = argv[2] if len(argv) > 2 else "OGG_OPUS"
    header = {"Authorization": f"Api-Key {key}"}

    body = {
        "config": {"specification": {"languageCode": "ru-RU", "audioEncoding": encoding}},
        "audio": {"uri": argv[1]},
    }
    req = requests.post(
        transcribe + "/speech/stt/v2/longRunningRecognize", headers=header, json=body, timeout=30
    )
    data = req.json()
    if req.status_code != 200:
        print(f"error: {req.status_code}: {data}", file=sys.stderr)
        return 1
    operation_id = data["id"]

    while True:
        time.sleep(1)
        req = requests.get(operation + "/operations/" + operation_id, headers=header, timeout=30)
        req = req.json()
        if req["done"]:
            break
        print("Not ready")

    if "error" in req:
        print(f"error: {req['error']}", file=sys.stderr)
        return 1
    print("Text chunks:")
    for chunk in req["response"].get("chunks", []):
        print(chunk["alternatives"][0]["text"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
