"""A guard in front of Triton's HTTP endpoint: requests Triton would crash on never reach it.

Triton 2.51 (the server of the nvidia-pytriton wheel) dies of a segmentation fault on an HTTP request body of
4 MB that is not JSON, and on JSON nested some 200,000 levels deep (measured: docs/reliability.md). So
`nn2fpga serve` listens for HTTP itself and forwards each request to Triton on a private loopback port, after
checking it:

- the request head (request line and headers) is at most 64 KiB, the body has a Content-Length (chunked
  bodies: 411) of at most `max_body` bytes (413, without reading it);
- the JSON part of a POST (the whole body, or its first Inference-Header-Content-Length bytes when the
  tensors travel as binary data) is at most `max_json` bytes (413), parses as JSON and nests at most
  MAX_DEPTH levels (400).

A refused request gets Triton's error form, `{"error": "..."}`, and its connection is closed; Triton's answers
travel back unchanged. gRPC goes to Triton directly (its messages are bounded by the protocol's framing).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading

log = logging.getLogger(__name__)

MAX_HEAD = 64 * 1024
MAX_DEPTH = 32  # a KServe v2 request nests 4 levels; a generous bound far below what crashes the server
REASONS = {400: "Bad Request", 411: "Length Required", 413: "Payload Too Large", 431: "Headers Too Large",
           502: "Bad Gateway"}  # fmt: skip


def _depth(value, limit: int) -> int:
    """The nesting depth of a parsed JSON value (stops counting past `limit`)."""
    depth, level = 0, [value]
    while level and depth <= limit:
        depth += 1
        level = [v for x in level for v in (x.values() if isinstance(x, dict) else x if isinstance(x, list) else ())]
        level = [v for v in level if isinstance(v, (dict, list))]
    return depth


def refusal(head: dict[str, str], body: bytes, max_json: int) -> tuple[int, str] | None:
    """Why a POST with headers `head` (lower-case names) and `body` must not reach Triton, or None."""
    size = head.get("inference-header-content-length")
    try:
        n = len(body) if size is None else int(size)
    except ValueError:
        return 400, f"Inference-Header-Content-Length {size!r} is not a number"
    if n < 0 or n > len(body):
        return 400, f"Inference-Header-Content-Length {n} does not fit a body of {len(body)} bytes"
    if n > max_json:
        return 413, f"the JSON part of a request is {n} bytes, at most {max_json}: send tensors as binary data"
    try:
        doc = json.loads(body[:n]) if n else None
    except (ValueError, RecursionError) as e:
        return 400, f"the request is not valid JSON ({type(e).__name__}: {str(e)[:80]})"
    if _depth(doc, MAX_DEPTH) > MAX_DEPTH:
        return 400, f"the request's JSON nests more than {MAX_DEPTH} levels"
    return None


def _response(code: int, message: str) -> bytes:
    body = json.dumps({"error": message}).encode()
    head = (f"HTTP/1.1 {code} {REASONS.get(code, 'Error')}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")  # fmt: skip
    return head.encode() + body


class HttpGuard:
    """Listens on (host, port) and forwards checked HTTP requests to 127.0.0.1:upstream, in a thread of its own."""

    def __init__(self, host: str, port: int, upstream: int, max_body: int, max_json: int) -> None:
        self.host, self.port, self.upstream, self.max_body, self.max_json = host, port, upstream, max_body, max_json
        self.refused = 0  # requests answered here with an error
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> HttpGuard:
        ready, failed = threading.Event(), []

        async def main() -> None:
            try:
                server = await asyncio.start_server(self._client, self.host, self.port, limit=MAX_HEAD)
            except OSError as e:
                failed.append(e)
                ready.set()
                return
            self._done = asyncio.Event()
            ready.set()
            async with server:
                await self._done.wait()

        self._loop, self._main = asyncio.new_event_loop(), main()
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._main,), daemon=True,
                                        name="nn2fpga-http-guard")  # fmt: skip
        self._thread.start()
        ready.wait(10)
        if failed:
            raise OSError(f"cannot listen on {self.host}:{self.port}: {failed[0].strerror or failed[0]}")
        return self

    def stop(self) -> None:
        async def finish() -> None:  # the open connections first, then the listening server
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and t.get_coro() is not main]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._done.set()

        if self._loop is not None and self._thread.is_alive():
            main = self._main
            asyncio.run_coroutine_threadsafe(finish(), self._loop)
            self._thread.join(10)
        self._loop = self._thread = None

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
        except OSError:
            writer.write(_response(502, "the inference server is not reachable"))
            await self._close(writer)
            return
        back = asyncio.ensure_future(self._pipe(up_reader, writer))
        try:
            while not reader.at_eof():
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method = lines[0].split(" ", 1)[0]
                headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
                problem = None
                if "chunked" in headers.get("transfer-encoding", "").lower():
                    problem = 411, "chunked request bodies are not accepted: send a Content-Length"
                else:
                    try:
                        n = int(headers.get("content-length", "0"))
                    except ValueError:
                        n = -1
                    if n < 0 or n > self.max_body:
                        problem = 413, f"a request body is at most {self.max_body} bytes; this one declares {n}"
                if problem is None:
                    body = await reader.readexactly(n)
                    problem = refusal(headers, body, self.max_json) if method == "POST" else None
                if problem is not None:
                    self.refused += 1
                    writer.write(_response(*problem))
                    break
                up_writer.write(head + body)
                await up_writer.drain()
        except asyncio.LimitOverrunError:
            self.refused += 1
            writer.write(_response(431, f"the request head is larger than {MAX_HEAD} bytes"))
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            back.cancel()
            await self._close(writer)
            await self._close(up_writer)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(1 << 16):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            await self._close(writer)

    @staticmethod
    async def _close(writer: asyncio.StreamWriter) -> None:
        try:
            writer.close()
            await writer.wait_closed()
        except (ConnectionError, asyncio.CancelledError, OSError):
            pass
