"""The hub served by a real gunicorn process on 127.0.0.1, for tests where the server process is the point."""
from __future__ import annotations

import contextlib
import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def gunicorn(database_url: str, workers: int = 1, **env: str):
    """Yield (base_url, master pid) of `gunicorn -c deploy/gunicorn.conf.py -w <workers> wsgi:app`."""
    port = free_port()
    environ = dict(os.environ, HUB_DATABASE_URL=database_url, **env)
    environ.pop("HUB_REDIS_URL", None) if "HUB_REDIS_URL" not in env else None
    process = subprocess.Popen(
        [str(GUNICORN), "-c", "deploy/gunicorn.conf.py", "-w", str(workers), "-b", f"127.0.0.1:{port}",
         "--max-requests", "0", "wsgi:app"],
        cwd=ROOT, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass  # gunicorn listens before its worker has imported the app: a first request may wait
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start: {process.stderr.read().decode()[-2000:]}")
            time.sleep(0.1)
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stderr.close()


def worker_pid(master_pid: int) -> int:
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (the most it was ever resident), in KiB, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def stream_chunked(base: str, path: str, total_bytes: int, headers: dict[str, str] | None = None,
                   chunk_bytes: int = 256 * 1024, prefix: bytes = b"") -> tuple[int | None, bytes, int]:
    """POST `total_bytes` with Transfer-Encoding: chunked (no Content-Length), stopping as soon as the
    server answers. Returns (status or None when the server cut the connection, response, bytes sent)."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    headers = {"Content-Type": "application/json", **(headers or {})}
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Transfer-Encoding: chunked"] + [
        f"{k}: {v}" for k, v in headers.items()]
    sent = 0
    chunk = b"[" * chunk_bytes
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    try:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        if prefix:
            sock.sendall(f"{len(prefix):x}\r\n".encode() + prefix + b"\r\n")
        while sent < total_bytes:
            if select.select([sock], [], [], 0)[0]:
                break  # the server has answered (or closed): stop sending
            sock.sendall(frame)
            sent += len(chunk)
        else:
            sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    answer = b""
    try:
        while True:
            part = sock.recv(65536)
            if not part:
                break
            answer += part
            if b"\r\n\r\n" in answer:
                head, _, rest = answer.partition(b"\r\n\r\n")
                length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                if length and len(rest) >= length[0]:
                    break
    except (ConnectionResetError, socket.timeout):
        pass
    finally:
        sock.close()
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else None
    return status, answer.partition(b"\r\n\r\n")[2], sent
