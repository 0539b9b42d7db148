"""A local HTTP server standing in for the Hugging Face Hub; it records every request.

It answers the calls ``create_repo`` and ``upload_folder`` make: repository creation,
pre-upload (every file "regular", so contents arrive base64-encoded in the commit), and
the commit itself, whose files it keeps.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeHub:
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    repos: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, dict[str, bytes]] = field(default_factory=dict)


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            return

        def _reply(self, status: int, data: Any) -> None:
            body = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _record(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            hub.requests.append(
                Recorded(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
            )
            return body

        def do_GET(self) -> None:
            self._record()
            self._reply(404, {"error": "not found"})

        def do_POST(self) -> None:
            body = self._record()
            path = self.path.split("?")[0]
            if path == "/api/repos/create":
                data = json.loads(body)
                repo = f"{data.get('organization') or 'user'}/{data['name']}"
                hub.repos[repo] = data
                hub.files.setdefault(repo, {})
                self._reply(200, {"url": f"{hub.url}/{repo}", "name": repo})
            elif path == "/api/validate-yaml":
                self._reply(200, {"errors": [], "warnings": []})
            elif "/preupload/" in path:
                files = json.loads(body)["files"]
                self._reply(
                    200,
                    {
                        "files": [
                            {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                            for f in files
                        ]
                    },
                )
            elif "/commit/" in path:
                repo = path.split("/api/models/")[1].split("/commit/")[0]
                for line in body.splitlines():
                    item = json.loads(line)
                    if item.get("key") == "file":
                        value = item["value"]
                        hub.files.setdefault(repo, {})[value["path"]] = base64.b64decode(
                            value["content"]
                        )
                self._reply(
                    200,
                    {
                        "commitUrl": f"{hub.url}/{repo}/commit/abc123",
                        "commitOid": "abc123",
                        "pullRequestUrl": None,
                    },
                )
            else:
                self._reply(404, {"error": f"no route {path}"})

    return Handler


@contextmanager
def fake_hub() -> Iterator[FakeHub]:
    hub = FakeHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
