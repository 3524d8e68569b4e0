"""A loopback fake of SendGrid's v3 Mail Send API, for testing a real client without the network.

    with FakeSendGrid() as server:
        client = sendgrid.SendGridAPIClient(server.api_key, host=server.url)
        server.script(Reply(429, {"Retry-After": "1"}), Drop(after_accept=True))
        ...
        assert server.seen("k1") == 1 and server.spec_errors == []

Every body is validated against SendGrid's own OpenAPI spec (when the file is present, with
`custom_args` patched to what the real API takes) plus a few rules the schema cannot express.
Scripted replies (`Reply`, `Drop`, `Stall`) simulate rate limits, 5xx, dead connections, timeouts;
`Limit` a rate limit whose reset lies a little after the request; `Echo` a gateway whose error
quotes our credentials back. Each recorded request carries its moment (`time.time()`).
"""

from __future__ import annotations

import base64
import json
import math
import os
import secrets
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jsonschema.protocols import Validator  # type: ignore[import-untyped]
from jsonschema.validators import validator_for  # type: ignore[import-untyped]
from referencing import Registry
from referencing.jsonschema import DRAFT202012

MAIL_SEND = "/v3/mail/send"
SPEC_ENV = "OUTREACH_SENDGRID_SPEC"
_DEFAULT_SPEC = "shared/eval-data/sendgrid-v3-openapi/tsg_mail_v3.json"
_SPEC_URI = "urn:sendgrid:tsg_mail_v3"
_BAD_KEY = "The provided authorization grant is invalid, expired, or revoked"
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
Json = dict[str, Any]


def spec_path() -> Path:
    """Where SendGrid's mail OpenAPI spec is: $OUTREACH_SENDGRID_SPEC, else ../shared/eval-data."""
    override = os.environ.get(SPEC_ENV)
    return Path(override) if override else Path(__file__).resolve().parents[2] / _DEFAULT_SPEC


SPEC_MISSING = (
    f"SendGrid's OpenAPI spec is not at {spec_path()}; request bodies are not validated against it"
)


def _patch_custom_args(schema: Json) -> None:
    """The spec types top-level custom_args as a string and leaves per-personalization values
    untyped; the real API takes an object of string values in both places."""
    try:
        top = schema["properties"]["custom_args"]
        per = schema["properties"]["personalizations"]["items"]["properties"]["custom_args"]
    except (KeyError, TypeError) as err:
        raise RuntimeError(f"SendGrid spec changed shape, custom_args not found: {err!r}") from err
    for place in (top, per):
        place.update(_STRING_MAP)


def load_mail_send_validator(path: Path | None = None) -> Validator | None:
    """A Draft 2020-12 validator for the mail/send request body; None when the spec is absent."""
    path = path or spec_path()
    if not path.is_file():
        return None
    spec = json.loads(path.read_text(encoding="utf-8"))
    ref = spec["paths"][MAIL_SEND]["post"]["requestBody"]["$ref"]
    body = _pointer(spec, ref)
    _patch_custom_args(body["content"]["application/json"]["schema"])
    registry: Registry[Any] = Registry().with_resource(_SPEC_URI, DRAFT202012.create_resource(spec))
    root = {"$ref": f"{_SPEC_URI}{ref}/content/application~1json/schema"}
    cls = validator_for({"$schema": "https://json-schema.org/draft/2020-12/schema"})
    return cls(root, registry=registry, format_checker=cls.FORMAT_CHECKER)


def _pointer(document: Json, ref: str) -> Json:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Reply:
    """A scripted answer (the default body for >= 400 is a SendGrid-style errors body)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Json | None = None


@dataclass(frozen=True)
class Drop:
    """Read the request, then close the connection without answering."""

    after_accept: bool


@dataclass(frozen=True)
class Stall:
    """Read the request, sleep, then answer normally."""

    seconds: float


@dataclass(frozen=True)
class Limit:
    """Answer 429 with `X-RateLimit-Reset` (Unix seconds, as SendGrid sends it) the first whole
    second at least `ahead` seconds after the request."""

    ahead: float

    def reply(self, at: float) -> Reply:
        reset = math.ceil(at + self.ahead)
        return Reply(429, {"X-RateLimit-Reset": str(reset), "X-RateLimit-Remaining": "0"})


@dataclass(frozen=True)
class Echo:
    """Answer `status` with an errors body that quotes the request's Authorization header, as
    debugging gateways do: as sent, URL-encoded and base64-encoded."""

    status: int

    def reply(self, headers: dict[str, str]) -> Reply:
        sent = headers.get("Authorization", "")
        echoed = f"refused {sent!r} ({quote(sent)}, {base64.b64encode(sent.encode()).decode()})"
        return Reply(self.status, body=_errors((None, echoed)))


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int | None
    answered: dict[str, str] = field(default_factory=dict)  # the answer's headers
    at: float = field(default_factory=time.time)  # when it was answered


def _errors(*problems: tuple[str | None, str]) -> Json:
    return {"errors": [{"message": m, "field": f, "help": None} for f, m in problems]}


def _nonempty_str(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def _obj(value: Any) -> Json:
    return value if isinstance(value, dict) else {}


def _envelopes(body: Json) -> list[Json]:
    """The personalizations that are objects (the schema or the rules reject any other)."""
    envelopes = body.get("personalizations")
    return [_obj(e) for e in envelopes] if isinstance(envelopes, list) else []


def _rule_errors(body: Json) -> list[tuple[str | None, str]]:
    """Rules of the real API that the schema does not state."""
    problems: list[tuple[str | None, str]] = []
    envelopes = body.get("personalizations")
    if not isinstance(envelopes, list) or not 1 <= len(envelopes) <= 1000:
        problems.append(("personalizations", "personalizations must hold 1 to 1000 objects"))
    for i, env in enumerate(_envelopes(body)):
        if not isinstance(env.get("to"), list) or not env["to"]:
            problems.append((f"personalizations.{i}.to", "each personalization needs a 'to'"))
    sender = body.get("from")
    if not isinstance(sender, dict) or not _nonempty_str(sender.get("email")):
        problems.append(("from.email", "The from object must be provided for every email send."))
    problems += _content_errors(body) + _custom_args_errors(body)
    return problems


def _content_errors(body: Json) -> list[tuple[str | None, str]]:
    if "template_id" in body:
        return []
    problems: list[tuple[str | None, str]] = []
    content = body.get("content")
    if not isinstance(content, list) or not content:
        problems.append(("content", "Unless a valid template_id is provided, content is required"))
    elif not all(isinstance(c, dict) and _nonempty_str(c.get("value")) for c in content):
        problems.append(("content", "every content item needs a non-empty value"))
    envelopes = _envelopes(body)
    subject_everywhere = bool(envelopes) and all(_nonempty_str(e.get("subject")) for e in envelopes)
    if not _nonempty_str(body.get("subject")) and not subject_everywhere:
        problems.append(("subject", "The subject is required unless a template_id is given."))
    return problems


def _custom_args_errors(body: Json) -> list[tuple[str | None, str]]:
    top = _obj(body.get("custom_args"))
    for env in _envelopes(body) or [{}]:
        merged = {**top, **_obj(env.get("custom_args"))}
        if len(json.dumps(merged).encode()) > 10_000:
            return [("custom_args", "custom_args may not exceed 10,000 bytes")]
    return []


def _schema_errors(validator: Validator, body: Any) -> list[tuple[str | None, str]]:
    found = sorted(validator.iter_errors(body), key=lambda e: list(map(str, e.absolute_path)))
    problems: list[tuple[str | None, str]] = []
    for error in found:
        path = [str(p) for p in error.absolute_path]
        if error.validator == "required" and isinstance(error.instance, dict):
            path += [p for p in error.validator_value if p not in error.instance][:1]
        problems.append((".".join(path) or None, error.message))
    return problems


def _keys(body: Any, name: str) -> set[str]:
    if not isinstance(body, dict):
        return set()
    places = [_obj(holder.get("custom_args")) for holder in [body, *_envelopes(body)]]
    return {p[name] for p in places if isinstance(p.get(name), str)}


class FakeSendGrid:
    """Runs the fake on 127.0.0.1 (a free port) in a daemon thread while the `with` block lasts."""

    def __init__(self, api_key: str = "SG.fake-test-key", validate: bool = True) -> None:
        self.api_key = api_key
        self.validator = load_mail_send_validator() if validate else None
        self.latency = 0.0
        self.accepted: list[Json] = []
        self.requests: list[RecordedRequest] = []
        self.spec_errors: list[str] = []
        self._script: deque[Reply | Drop | Stall | Limit | Echo] = deque()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def validating(self) -> bool:
        return self.validator is not None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeSendGrid:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def script(self, *replies: Reply | Drop | Stall | Limit | Echo) -> None:
        """Queue replies, consumed one per mail-send request before normal behaviour resumes."""
        with self._lock:
            self._script.extend(replies)

    def seen(self, key: str, field: str = "outreach_key") -> int:
        return self.accepted_keys(field)[key]

    def accepted_keys(self, field: str = "outreach_key") -> Counter[str]:
        with self._lock:
            return Counter(k for body in self.accepted for k in _keys(body, field))

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Reply | None:
        """The answer to one request; None means: close the connection without a response."""
        try:
            body, valid_json = (json.loads(raw) if raw else None), True
        except ValueError:
            body, valid_json = None, False
        step = self._next_step() if (path, method) == (MAIL_SEND, "POST") else None
        if isinstance(step, Stall):
            time.sleep(step.seconds)
        if isinstance(step, Drop) and step.after_accept:
            self._accept(body)
        if isinstance(step, Drop):
            return self._finish(RecordedRequest(method, path, headers, body, None), None)
        if isinstance(step, Echo):
            answer = step.reply(headers)
        elif isinstance(step, Limit):
            answer = self._scripted(step.reply(time.time()), body)
        elif isinstance(step, Reply):
            answer = self._scripted(step, body)
        else:
            answer = self._normal(method, path, headers, body, valid_json)
        record = RecordedRequest(method, path, headers, body, answer.status, answer.headers)
        return self._finish(record, answer)

    def _next_step(self) -> Reply | Drop | Stall | Limit | Echo | None:
        with self._lock:
            return self._script.popleft() if self._script else None

    def _finish(self, record: RecordedRequest, answer: Reply | None) -> Reply | None:
        with self._lock:
            self.requests.append(record)
        time.sleep(self.latency)
        return answer

    def _accept(self, body: Any) -> Reply:
        with self._lock:
            self.accepted.append(body)
        return Reply(202, {"X-Message-Id": secrets.token_urlsafe(16)})

    def _scripted(self, reply: Reply, body: Any) -> Reply:
        if reply.status == 202:
            accepted = self._accept(body)
            return Reply(202, {**accepted.headers, **reply.headers}, reply.body)
        default = _errors((None, f"scripted {reply.status}")) if reply.status >= 400 else None
        return Reply(reply.status, reply.headers, reply.body or default)

    def _normal(
        self, method: str, path: str, headers: dict[str, str], body: Any, valid_json: bool
    ) -> Reply:
        if path != MAIL_SEND:
            return Reply(404, body=_errors((None, f"{path} not found")))
        if method != "POST":
            return Reply(405, body=_errors((None, f"{method} not allowed on {path}")))
        if headers.get("Authorization") != f"Bearer {self.api_key}":
            return Reply(401, body=_errors((None, _BAD_KEY)))
        if not valid_json or not isinstance(body, dict):
            return Reply(400, body=_errors((None, "Bad Request: the body is not a JSON object")))
        problems = _schema_errors(self.validator, body) if self.validator else []
        if problems:
            with self._lock:
                self.spec_errors += [f"{f}: {m}" for f, m in problems]
        problems = problems or _rule_errors(body)
        return Reply(400, body=_errors(*problems)) if problems else self._accept(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # clients sending many at once (socketserver's 5 drops some)
    fake: FakeSendGrid


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _dispatch(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?", 1)[0]
        answer = self.server.fake.handle(self.command, path, dict(self.headers.items()), raw)
        self.close_connection = True
        if answer is not None:
            self._write(answer)

    def _write(self, answer: Reply) -> None:
        payload = json.dumps(answer.body).encode() if answer.body is not None else b""
        try:
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            if payload:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timed out) while we stalled

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        pass
