"""``python -m bench.s3server``: moto's S3 server in its own process, until stdin closes.

It prints its endpoint URL on the first line. It stops when the bench closes the pipe,
exits or dies, so it never outlives the benchmark. Its own process keeps moto's CPU use
off the bench's and the contenders' event loops.
"""

from __future__ import annotations

import sys


def main() -> int:
    """Serve S3 on a free loopback port until stdin reaches end of file."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        print(f"http://{host}:{port}", flush=True)
        sys.stdin.read()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
