"""A small Hub-compatible HTTP server for offline publishing tests (stdlib only).

It answers the routes huggingface_hub 2.4 uses for ``create_repo``, ``upload_folder``, ``ModelCard.validate`` /
``push_to_hub`` and ``hf_hub_download`` (so ``from_pretrained("owner/name")`` works), storing files under a temp
dir. One branch per repo: every revision name resolves to the latest commit. Uploads are always "regular" (base64
inside the commit payload), so the LFS/Xet upload path is not exercised. Point ``HF_ENDPOINT`` at ``start()``'s URL
*before* importing huggingface_hub (it reads the endpoint at import).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import tempfile
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit


_REPO = r"(?P<repo>[^/]+/[^/]+)"
_ROUTES = [  # (method, pattern, handler name); first match wins
    ("POST", r"/api/validate-yaml", "validate_yaml"),
    ("GET", r"/api/agent-harnesses", "agent_harnesses"),
    ("GET", r"/api/whoami-v2", "whoami"),
    ("POST", r"/api/repos/create", "create_repo"),
    ("POST", rf"/api/models/{_REPO}/preupload/(?P<rev>.+)", "preupload"),
    ("POST", rf"/api/models/{_REPO}/commit/(?P<rev>.+)", "commit"),
    ("GET", rf"/api/models/{_REPO}(?:/revision/(?P<rev>.+))?", "model_info"),
    ("HEAD", rf"/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<file>.+)", "resolve"),
    ("GET", rf"/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<file>.+)", "resolve"),
]


class FakeHub:
    """Fake Hub on 127.0.0.1: ``url = hub.start()``, then ``hub.stop()`` (or use it as a context manager)."""

    def __init__(self, root: str | Path | None = None):
        self._own_root = root is None
        self.root = Path(root or tempfile.mkdtemp(prefix="fakehub-"))
        self.repos: dict[str, str] = {}  # repo_id -> latest commit sha
        self.requests: list[tuple[str, str]] = []  # (method, path) log, for debugging tests
        self.url = ""
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> str:
        """Serve on a free port in a daemon thread; return the base URL."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.url

    def stop(self) -> None:
        """Shut the server down and delete its storage (when it made its own temp dir)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "FakeHub":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def files(self, repo_id: str) -> list[str]:
        """Paths stored in a repo, sorted."""
        base = self.root / repo_id
        return sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())


def _make_handler(hub: FakeHub):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output quiet
            pass

        def do_GET(self):
            self._dispatch("GET")

        def do_HEAD(self):
            self._dispatch("HEAD")

        def do_POST(self):
            self._dispatch("POST")

        def _dispatch(self, method: str) -> None:
            path = unquote(urlsplit(self.path).path)
            hub.requests.append((method, path))
            for route_method, pattern, name in _ROUTES:
                match = re.fullmatch(pattern, path)
                if route_method == method and match:
                    return getattr(self, name)(**match.groupdict())
            self._send(404, {"error": f"fake hub: no route for {method} {path}"})

        def _send(self, status: int, payload=None, headers: dict | None = None, body: bytes | None = None) -> None:
            if body is None:
                body = json.dumps(payload).encode()
                headers = {"Content-Type": "application/json", **(headers or {})}
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, str(value))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _missing_repo(self, repo: str) -> bool:
            if repo in hub.repos:
                return False
            self._send(404, {"error": f"Repository {repo} not found"}, {"X-Error-Code": "RepoNotFound"})
            return True

        # --- routes -------------------------------------------------------------------------------------------
        def validate_yaml(self):
            self._body()
            self._send(200, {"errors": [], "warnings": []})

        def agent_harnesses(self):
            self._send(200, {"standardEnvVars": [], "harnesses": {}})

        def whoami(self):
            self._send(200, {"type": "user", "name": "tester", "orgs": [], "auth": {"accessToken": {"role": "write"}}})

        def create_repo(self):
            data = json.loads(self._body() or b"{}")
            repo = f"{data['organization']}/{data['name']}" if data.get("organization") else f"tester/{data['name']}"
            if repo in hub.repos:
                return self._send(409, {"error": "You already created this model repo", "url": f"{hub.url}/{repo}"})
            hub.repos[repo] = uuid.uuid4().hex + "00000000"  # 40 hex chars, like a git sha
            (hub.root / repo).mkdir(parents=True, exist_ok=True)
            self._send(200, {"url": f"{hub.url}/{repo}", "name": repo})

        def preupload(self, repo, rev):
            files = json.loads(self._body()).get("files", [])
            if self._missing_repo(repo):
                return
            answer = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]
            self._send(200, {"files": answer, "commitOid": hub.repos[repo]})

        def commit(self, repo, rev):
            lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
            if self._missing_repo(repo):
                return
            for item in lines:
                key, value = item["key"], item["value"]
                target = hub.root / repo / value.get("path", "")
                if key == "file":
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(base64.b64decode(value["content"]))
                elif key == "deletedFile":
                    target.unlink(missing_ok=True)
                elif key != "header":
                    return self._send(400, {"error": f"fake hub does not support {key!r} operations"})
            sha = uuid.uuid4().hex + "00000000"
            hub.repos[repo] = sha
            self._send(200, {"commitUrl": f"{hub.url}/{repo}/commit/{sha}", "commitOid": sha, "pullRequestUrl": None})

        def model_info(self, repo, rev=None):
            if self._missing_repo(repo):
                return
            siblings = [{"rfilename": name} for name in hub.files(repo)]
            self._send(200, {"id": repo, "modelId": repo, "sha": hub.repos[repo], "private": False, "tags": [],
                             "siblings": siblings})

        def resolve(self, repo, rev, file):
            if self._missing_repo(repo):
                return
            target = hub.root / repo / file
            if not target.is_file():
                return self._send(404, {"error": f"{file} not found"}, {"X-Error-Code": "EntryNotFound"})
            data = target.read_bytes()
            headers = {"ETag": f'"{hashlib.sha1(data).hexdigest()}"', "X-Repo-Commit": hub.repos[repo],
                       "Content-Type": "application/octet-stream"}
            self._send(200, headers=headers, body=data)

    return Handler


__all__ = ["FakeHub"]
