"""The sidebar's REST surface on a real Jupyter Server: auth, XSRF, validation, one error shape."""

from __future__ import annotations

import http.cookiejar
import json
import os
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from run_helpers import finished_and_live

from modelforge_nb.registry import REGISTRY_FILE
from modelforge_nb.runs import Run

pytestmark = pytest.mark.slow


class Server:
    def __init__(self, port: int, token: str) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.token = token

    def call(
        self,
        method: str,
        path: str,
        *,
        token: bool = True,
        body: bytes | None = None,
        opener: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        request = urllib.request.Request(
            f"{self.base}{path}", data=body, method=method, headers=dict(headers or {})
        )
        if token:
            request.add_header("Authorization", f"token {self.token}")
        try:
            with (opener or urllib.request.build_opener()).open(request, timeout=30) as reply:
                return reply.status, json.loads(reply.read() or b"null")
        except urllib.error.HTTPError as error:
            text = error.read()
            try:
                return error.code, json.loads(text)
            except json.JSONDecodeError:
                return error.code, text.decode(errors="replace")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def server(home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = secrets.token_hex(16)
    root = tmp_path_factory.mktemp("root")
    log = (root / "server.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter_server",
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            "--ip=127.0.0.1",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            '--ServerApp.jpserver_extensions={"modelforge_nb": True}',
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "MODELFORGE_HOME": str(home), "JUPYTER_CONFIG_DIR": str(root)},
    )
    live = Server(port, token)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if live.call("GET", "/api/status")[0] == 200:
                break
        except OSError:
            time.sleep(0.5)
    else:
        process.terminate()
        raise AssertionError(
            f"Jupyter did not answer within 90 s: {(root / 'server.log').read_text()}"
        )
    yield live
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def runs(home: Path, tiny_causal: Path, tiny_data: dict[str, Path]) -> Iterator[dict[str, Run]]:
    with finished_and_live(home, tiny_causal, tiny_data["sft"]) as made:
        yield made


def test_audit_13_every_endpoint_needs_the_token(server: Server, runs: dict[str, Run]) -> None:
    run_id = runs["done"].id
    for method, path in (
        ("GET", "/modelforge/api/runs"),
        ("GET", f"/modelforge/api/runs/{run_id}"),
        ("POST", f"/modelforge/api/runs/{run_id}/stop"),
        ("GET", "/modelforge/api/hardware"),
    ):
        status, _ = server.call(method, path, token=False, body=b"{}" if method == "POST" else None)
        assert status == 403, (method, path, status)
    # A page on another origin rides on the browser's cookies, not the token: it is refused
    # (Jupyter answers a request from an origin it does not allow with 404) and gets no CORS
    # grant to read the reply. (Jupyter grants CORS to a request that
    # carries the token itself: whoever holds the token is the user.)
    request = urllib.request.Request(
        f"{server.base}/modelforge/api/runs", headers={"Origin": "http://evil.example"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 404
    assert refused.value.headers.get("Access-Control-Allow-Origin") is None


def test_list_detail_and_hardware(server: Server, runs: dict[str, Run]) -> None:
    status, body = server.call("GET", "/modelforge/api/runs")
    assert status == 200
    listed = {r["id"]: r for r in body["runs"]}
    done = listed[runs["done"].id]
    assert done["status"] == "completed" and done["progress"] == 1.0
    assert done["last_loss"] is not None and len(done["loss_tail"]) == 8
    identity = json.loads((runs["done"].output_dir / "run.json").read_text())
    assert done["created_at"] == identity["created_at"] < done["started_at"]
    status, detail = server.call("GET", f"/modelforge/api/runs/{runs['done'].id}")
    assert status == 200 and len(detail["history"]) >= 8 and detail["metrics"]["global_step"] == 8
    status, hardware = server.call("GET", "/modelforge/api/hardware")
    assert status == 200 and hardware["tier"] == "cpu" and hardware["gpus"] == []


def test_stop_a_live_run(server: Server, runs: dict[str, Run]) -> None:
    live = runs["live"]
    deadline = time.monotonic() + 120
    while not live.history and time.monotonic() < deadline:
        time.sleep(0.2)
    status, body = server.call("POST", f"/modelforge/api/runs/{live.id}/stop", body=b"{}")
    assert status == 200 and body["id"] == live.id
    assert live.wait(timeout=120) == "stopped"


@pytest.mark.parametrize(
    ("method", "path", "body", "expected", "code"),
    [
        ("GET", "/modelforge/api/runs/no-such-run", None, 404, "run.unknown"),
        ("GET", "/modelforge/api/runs/bad%20id%3B", None, 400, "run.bad_id"),
        ("POST", "/modelforge/api/runs/no-such-run/stop", b"{}", 404, "run.unknown"),
        ("POST", "/modelforge/api/runs/{done}/stop", b"{not json", 400, "request.bad_json"),
        ("POST", "/modelforge/api/runs/{done}/stop", b'{"force": 1}', 400, "request.bad_body"),
        ("POST", "/modelforge/api/runs/{done}/stop", b"[" * 100_000, 400, "request.bad_json"),
        ("POST", "/modelforge/api/runs/{done}/stop", b"9" * 10_000, 400, "request.bad_json"),
        ("POST", "/modelforge/api/runs/{done}/stop", b"\xff\xfe", 400, "request.bad_json"),
        ("GET", "/modelforge/api/runs/{done}%0a", None, 400, "run.bad_id"),
        ("GET", "/modelforge/api/runs/run%0a", None, 400, "run.bad_id"),
    ],
)
def test_audit_10_15_bad_input_gets_one_json_error_shape(
    server: Server,
    runs: dict[str, Run],
    method: str,
    path: str,
    body: bytes | None,
    expected: int,
    code: str,
) -> None:
    status, reply = server.call(method, path.format(done=runs["done"].id), body=body)
    assert status == expected
    assert set(reply) == {"error"} and set(reply["error"]) == {"code", "message"}
    assert reply["error"]["code"] == code and reply["error"]["message"]
    assert str(runs["done"].output_dir.parent.parent) not in reply["error"]["message"]


def test_issue_a_damaged_run_folder_is_listed_as_damaged_not_a_500(
    server: Server, runs: dict[str, Run], home: Path, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    from modelforge_nb.config import FinetuneConfig
    from modelforge_nb.runs import Workspace

    workspace = Workspace(home)
    broken = workspace.create_run(
        FinetuneConfig(model=str(tiny_causal), dataset=str(tiny_data["sft"]))
    )
    (broken.output_dir / "config.json").write_text("{not json", encoding="utf-8")
    emptied = workspace.create_run(
        FinetuneConfig(model=str(tiny_causal), dataset=str(tiny_data["sft"]))
    )
    (emptied.output_dir / "run.json").write_text("", encoding="utf-8")
    status, body = server.call("GET", "/modelforge/api/runs")
    assert status == 200
    listed = {r["id"]: r for r in body["runs"]}
    assert listed[broken.id]["status"] == "damaged"
    assert "config.json is empty or not JSON" in listed[broken.id]["error"]
    assert listed[emptied.id]["status"] == "damaged"
    assert "run.json" in listed[emptied.id]["error"]
    assert listed[runs["done"].id]["status"] == "completed"  # the others as usual
    status, detail = server.call("GET", f"/modelforge/api/runs/{broken.id}")
    assert status == 200 and detail["status"] == "damaged" and detail["config"] is None
    shutil.rmtree(broken.output_dir)
    shutil.rmtree(emptied.output_dir)


def test_a_post_without_xsrf_is_refused(server: Server, runs: dict[str, Run]) -> None:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{server.base}/login", timeout=30):  # the form sets the _xsrf cookie
        pass
    with opener.open(f"{server.base}/login?token={server.token}&next=/api/status", timeout=30):
        pass
    assert any(c.name.startswith("username") for c in jar), "logged in with a cookie"
    path = f"/modelforge/api/runs/{runs['done'].id}/stop"
    status, _ = server.call("POST", path, token=False, body=b"{}", opener=opener)
    assert status == 403
    xsrf = next(c.value for c in jar if c.name == "_xsrf")
    status, reply = server.call(
        "POST", path, token=False, body=b"{}", opener=opener, headers={"X-XSRFToken": xsrf}
    )
    assert status == 200 and reply["status"] == "completed"


def test_audit_18_handlers_are_fully_annotated() -> None:
    import inspect

    from modelforge_nb.server.handlers import routes

    for _path, handler in routes():
        for name in ("get", "post"):
            method = handler.__dict__.get(name)
            if method is None:
                continue
            signature = inspect.signature(inspect.unwrap(method))
            assert signature.return_annotation in (None, "None")
            assert all(
                p.annotation is not inspect.Parameter.empty
                for p in signature.parameters.values()
                if p.name != "self"
            )


def _lock_index(index: Path) -> sqlite3.Connection:
    """Hold ``index`` so that no other connection reads or writes it until closed.

    ``BEGIN EXCLUSIVE`` keeps readers out of a rollback-journal index; the exclusive locking
    mode, with one read inside the transaction, keeps them out of an index another
    release left in WAL mode too.
    """
    locker = sqlite3.connect(index, timeout=30, isolation_level=None)
    locker.execute("PRAGMA locking_mode=EXCLUSIVE")
    locker.execute("BEGIN EXCLUSIVE")
    locker.execute("SELECT count(*) FROM runs").fetchall()
    return locker


def test_the_server_answers_while_a_listing_waits_on_a_locked_index(
    server: Server, runs: dict[str, Run], home: Path
) -> None:
    index = home / REGISTRY_FILE
    assert server.call("GET", "/modelforge/api/runs")[0] == 200  # the index exists
    listing: dict[str, Any] = {}

    def list_runs() -> None:
        listing["reply"] = server.call("GET", "/modelforge/api/runs")
        listing["at"] = time.monotonic()

    locker = _lock_index(index)
    try:
        waiting = threading.Thread(target=list_runs, daemon=True)
        waiting.start()
        time.sleep(1.0)  # the listing has reached the index and waits on its lock
        asked = time.monotonic()
        status, _ = server.call("GET", "/api/status")
        answered = time.monotonic()
        assert status == 200
        assert answered - asked < 2.0, f"/api/status took {answered - asked:.1f} s"
        assert waiting.is_alive(), "the listing did not wait on the locked index"
    finally:
        released = time.monotonic()
        locker.close()
    waiting.join(timeout=60)
    assert not waiting.is_alive(), "the listing did not finish once the index was released"
    status, body = listing["reply"]
    assert status == 200 and listing["at"] >= released
    assert runs["done"].id in {r["id"] for r in body["runs"]}


def test_a_get_never_writes_a_missing_or_damaged_index(
    server: Server, runs: dict[str, Run], home: Path
) -> None:
    from modelforge_nb.runs import Workspace

    index = home / REGISTRY_FILE
    done = runs["done"].id
    kept = home / "kept-index"
    kept.mkdir()
    for part in home.glob(f"{REGISTRY_FILE}*"):
        part.replace(kept / part.name)
    try:
        for damage in (None, b"not a database, not even close" * 200):
            if damage is not None:
                index.write_bytes(damage)
            status, body = server.call("GET", "/modelforge/api/runs")
            assert status == 200, body
            listed = {r["id"]: r for r in body["runs"]}
            assert listed[done]["status"] == "completed"  # read from its folder
            status, detail = server.call("GET", f"/modelforge/api/runs/{done}")
            assert status == 200 and detail["metrics"]["global_step"] == 8
            # Nothing created, repaired, rebuilt or moved aside.
            left = sorted(p.name for p in home.glob(f"{REGISTRY_FILE}*"))
            assert left == ([] if damage is None else [REGISTRY_FILE]), left
            if damage is not None:
                assert index.read_bytes() == damage
    finally:
        for part in home.glob(f"{REGISTRY_FILE}*"):
            part.unlink()
        for part in kept.iterdir():
            part.replace(home / part.name)
        kept.rmdir()
    assert done in {run.id for run in Workspace(home).list_runs()}
