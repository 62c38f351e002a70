"""The SpeechKit documentation's asynchronous API v3 flow (its curl sample), with `requests` only.

Post the documented request.json (snake_case field names, as the sample writes them) to
recognizeFileAsync, ask for the operation every second until it is done, then fetch the
results from getRecognition (one JSON object per line) and print the text of every `final`.
It knows nothing of this project: point it at the real service or at the emulator by
changing the hosts.

    python examples/doc_flow_v3.py https://storage.yandexcloud.net/<bucket>/<key.wav>

Environment: SPEECHKIT_API_KEY (required), SPEECHKIT_STT_URL (default
https://stt.api.cloud.yandex.net), SPEECHKIT_OPERATION_URL (default
https://operation.api.cloud.yandex.net). Optional second argument: the container type
(WAV, as in the documentation, OGG_OPUS or MP3).
"""

from __future__ import annotations

import json
import os
import sys
import time

import requests


def main(argv: list[str]) -> int:
    """Recognise the audio named by argv[1] and print its final texts, one per line."""
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    key = os.environ.get("SPEECHKIT_API_KEY")
    if not key:
        print("error: set SPEECHKIT_API_KEY", file=sys.stderr)
        return 2
    stt = os.environ.get("SPEECHKIT_STT_URL", "https://stt.api.cloud.yandex.net")
    operation = os.environ.get("SPEECHKIT_OPERATION_URL", "https://operation.api.cloud.yandex.net")
    container = argv[2] if len(argv) > 2 else "WAV"
    header = {"Authorization": f"Api-Key {key}"}

    # request.json of the documentation, sent as `curl --data @request.json` sends it.
    request_json = {
        "uri": argv[1],
        "recognition_model": {
            "model": "general",
            "audio_format": {"container_audio": {"container_audio_type": container}},
        },
    }
    req = requests.post(
        stt + "/stt/v3/recognizeFileAsync",
        headers=header,
        data=json.dumps(request_json),
        timeout=30,
    )
    data = req.json()
    if req.status_code != 200:
        print(f"error: {req.status_code}: {data}", file=sys.stderr)
        return 1
    operation_id = data["id"]

    while True:
        time.sleep(1)
        req = requests.get(operation + "/operations/" + operation_id, headers=header, timeout=30)
        status = req.json()
        if status.get("done"):
            break
        print("Not ready")

    if "error" in status:
        print(f"error: {status['error']}", file=sys.stderr)
        return 1
    req = requests.get(
        stt + "/stt/v3/getRecognition",
        params={"operation_id": operation_id},
        headers=header,
        timeout=30,
    )
    if req.status_code != 200:
        print(f"error: {req.status_code}: {req.text}", file=sys.stderr)
        return 1
    print("Final texts:")
    for line in req.text.splitlines():
        if not line.strip():
            continue
        result = json.loads(line)["result"]
        # Partial results, refinements and status events are not the transcript.
        if "final" in result:
            print(f"{result['channelTag']}: {result['final']['alternatives'][0]['text']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
