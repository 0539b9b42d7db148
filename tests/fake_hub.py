"""A local HTTP server standing in for the Hugging Face Hub; it records every request.

It answers the calls ``create_repo`` and ``upload_folder`` make, and rejects what the real
Hub rejects where that matters to a push:
- a README whose card metadata names a ``base_model`` that is not a Hub repository id
  (a local path, say): 400 on the commit and on ``/api/validate-yaml``;
- a file committed inline ("regular") that the Hub stores only in LFS: binary model files
  (its default ``.gitattributes``: ``*.safetensors``, ``*.bin``, ...) and any file over
  its 10 MiB regular-file limit. Pre-upload answers "lfs" for those, so the client takes
  the LFS path: the batch endpoint, a PUT of the bytes (checked against their SHA-256),
  then an ``lfsFile`` entry in the commit that must name an uploaded object.
Only the LFS protocol is served, not Xet; tests that push set ``HF_HUB_DISABLE_XET``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import yaml

#: The Hub's limit for a file committed without LFS.
REGULAR_FILE_LIMIT = 10 * 1024 * 1024
#: Suffixes the Hub's default .gitattributes sends to LFS.
LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".gguf")
_REPO_ID = re.compile(r"^(?:[\w.-]{1,96}/)?[\w.-]{1,96}$")


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
    lfs_objects: dict[str, bytes] = field(default_factory=dict)
    #: (repo, path) of every file that arrived through LFS.
    lfs_files: list[tuple[str, str]] = field(default_factory=list)


def needs_lfs(path: str, size: int) -> bool:
    """Whether the Hub stores this file only in LFS."""
    return path.endswith(LFS_SUFFIXES) or size > REGULAR_FILE_LIMIT


def card_errors(readme: str) -> list[str]:
    """What the Hub's metadata validation says of a README's YAML header."""
    if not readme.startswith("---"):
        return []
    header = readme.split("---", 2)[1]
    data = yaml.safe_load(header) or {}
    errors = []
    base = data.get("base_model")
    for value in base if isinstance(base, list) else [base] if base is not None else []:
        if not isinstance(value, str) or not _REPO_ID.match(value) or value.startswith("."):
            errors.append(
                f'"base_model" with value "{value}" is not valid. '
                "Use a model id from https://hf.co/models."
            )
    return errors


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

        def do_PUT(self) -> None:
            body = self._record()
            path = self.path.split("?")[0]
            if not path.startswith("/lfs-upload/"):
                self._reply(404, {"error": f"no route {path}"})
                return
            oid = path.rsplit("/", 1)[1]
            if hashlib.sha256(body).hexdigest() != oid:
                self._reply(400, {"error": "the uploaded bytes do not match their oid"})
                return
            hub.lfs_objects[oid] = body
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _lfs_batch(self, body: bytes) -> None:
            request = json.loads(body)
            objects = []
            for item in request["objects"]:
                entry: dict[str, Any] = {"oid": item["oid"], "size": item["size"]}
                if item["oid"] not in hub.lfs_objects:
                    entry["actions"] = {
                        "upload": {"href": f"{hub.url}/lfs-upload/{item['oid']}", "header": {}}
                    }
                objects.append(entry)
            self._reply(200, {"transfer": "basic", "objects": objects})

        def _commit(self, repo: str, body: bytes) -> None:
            added: dict[str, bytes] = {}
            via_lfs: list[str] = []
            for line in body.splitlines():
                item = json.loads(line)
                value = item.get("value", {})
                if item.get("key") == "file":
                    content = base64.b64decode(value["content"])
                    if needs_lfs(value["path"], len(content)):
                        self._reply(
                            400,
                            {
                                "error": f"Your push was rejected: {value['path']} must be "
                                "stored with Git LFS (binary file or over 10 MiB)."
                            },
                        )
                        return
                    added[value["path"]] = content
                elif item.get("key") == "lfsFile":
                    stored = hub.lfs_objects.get(value["oid"])
                    if stored is None or len(stored) != value.get("size", len(stored)):
                        self._reply(422, {"error": f"LFS object of {value['path']} is missing"})
                        return
                    added[value["path"]] = stored
                    via_lfs.append(value["path"])
            if "README.md" in added:
                errors = card_errors(added["README.md"].decode("utf-8"))
                if errors:
                    self._reply(400, {"error": "Invalid metadata in README.md.\n- " + errors[0]})
                    return
            hub.files.setdefault(repo, {}).update(added)
            hub.lfs_files += [(repo, path) for path in via_lfs]
            self._reply(
                200,
                {
                    "commitUrl": f"{hub.url}/{repo}/commit/abc123",
                    "commitOid": "abc123",
                    "pullRequestUrl": None,
                },
            )

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
                errors = card_errors(json.loads(body).get("content", ""))
                found = [{"message": error} for error in errors]
                self._reply(400 if errors else 200, {"errors": found, "warnings": []})
            elif path.endswith(".git/info/lfs/objects/batch"):
                self._lfs_batch(body)
            elif "/preupload/" in path:
                files = json.loads(body)["files"]
                mode = {
                    f["path"]: "lfs" if needs_lfs(f["path"], f["size"]) else "regular"
                    for f in files
                }
                self._reply(
                    200,
                    {
                        "files": [
                            {
                                "path": f["path"],
                                "uploadMode": mode[f["path"]],
                                "shouldIgnore": False,
                            }
                            for f in files
                        ]
                    },
                )
            elif "/commit/" in path:
                self._commit(path.split("/api/models/")[1].split("/commit/")[0], body)
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
