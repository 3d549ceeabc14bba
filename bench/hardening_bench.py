"""What hostile or unlucky requests cost a real server (SurveyCluster + sentiment, bundled data).

    python bench/hardening_bench.py

Starts `uvicorn api_app:app --http api_app.server:GuardedHttpToolsProtocol` and prints, for the
4.8 MB /survey/clustering body whose metadata holds 10^6 non-objects and for a valid 6 MB survey:
the answer's status, size and time, and the slowest /health/live answer while it was processed;
then how many bytes of a 64 MiB header the server read before closing, and the server's resident
memory (VmRSS) before and after.
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from platform_startup import free_port, rss_mib  # bench/ is on sys.path when run as a script

REPO_ROOT = Path(__file__).resolve().parent.parent
HUGE_METADATA = json.dumps({"data": {"q": [1]}, "metadata": [0.5] * 1_000_000, "factor": "x", "max_k": 2})
LARGE_VALID = json.dumps(
    {
        "data": {f"q{j}": [1.5, 2.5, None, 4.0] * 500 for j in range(450)},
        "metadata": [{"Question Name": f"q{j}", "Type": "continuous", "Factor": "F"} for j in range(450)],
        "factor": "not a factor",
        "max_k": 2,
    }
)


def body_while_polling(url: str, content: str) -> None:
    responses: list[httpx.Response] = []
    sent_in: list[float] = []
    waits: list[float] = []

    def send() -> None:
        started = time.perf_counter()
        responses.append(
            httpx.post(
                f"{url}/survey/clustering",
                content=content,
                timeout=300,
                headers={"content-type": "application/json"},
            )
        )
        sent_in.append(time.perf_counter() - started)

    sender = threading.Thread(target=send)
    sender.start()
    while sender.is_alive() or not waits:
        started = time.perf_counter()
        httpx.get(f"{url}/health/live", timeout=300)
        waits.append(time.perf_counter() - started)
        time.sleep(0.02)
    sender.join()
    (response,), (seconds,) = responses, sent_in
    print(
        f"  {len(content) / 1e6:.1f} MB body: {response.status_code}, answer {len(response.content)} bytes "
        f"in {seconds:.2f} s; slowest of {len(waits)} liveness answers {max(waits) * 1000:.0f} ms"
    )


def header_bytes_read(port: int) -> int:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: bench\r\nX-Big: ")
    sent, chunk = 0, b"a" * 65536
    try:
        while sent < 64 * 1024 * 1024:
            sock.sendall(chunk)
            sent += len(chunk)
    except OSError:
        pass
    sock.close()
    return sent


def main() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "api_app:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--http",
            "api_app.server:GuardedHttpToolsProtocol",
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "MODEL_SERVICE": "SurveyCluster,sentiment"},
    )
    try:
        while True:
            try:
                if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        print(f"server ready, VmRSS {rss_mib(process.pid):.0f} MiB")
        for content in (HUGE_METADATA, LARGE_VALID):
            body_while_polling(url, content)
        print(f"64 MiB header: the client sent {header_bytes_read(port)} bytes before the server closed")
        time.sleep(0.5)
        print(f"VmRSS afterwards {rss_mib(process.pid):.0f} MiB")
    finally:
        process.terminate()
        process.wait(timeout=20)


if __name__ == "__main__":
    main()
