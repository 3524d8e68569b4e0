"""The loopback SendGrid fake, driven by the official `sendgrid` client (python_http_client)."""

from __future__ import annotations

import copy
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError

import pytest
import sendgrid
from fake_sendgrid import (
    SPEC_ENV,
    SPEC_MISSING,
    Drop,
    FakeSendGrid,
    Reply,
    Stall,
    load_mail_send_validator,
    spec_path,
)
from python_http_client.exceptions import (
    BadRequestsError,
    InternalServerError,
    TooManyRequestsError,
    UnauthorizedError,
)
from sendgrid.helpers.mail import CustomArg, Mail

needs_spec = pytest.mark.skipif(not spec_path().is_file(), reason=SPEC_MISSING)


@pytest.fixture
def server() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as fake:
        yield fake


@pytest.fixture
def client(server: FakeSendGrid) -> sendgrid.SendGridAPIClient:
    return sendgrid.SendGridAPIClient(server.api_key, host=server.url)


def make_mail(key: str = "k1") -> Mail:
    mail = Mail(
        from_email="sender@example.test",
        to_emails="ada@example.test",
        subject="Happy birthday",
        plain_text_content="Happy birthday, Ada!",
        html_content="<p>Happy birthday, Ada!</p>",
    )
    mail.reply_to = "replies@example.test"
    mail.custom_arg = CustomArg("outreach_key", key)
    return mail


def body(**changes: Any) -> dict[str, Any]:
    """A valid mail/send body (as the client builds it), with top-level keys replaced/removed."""
    base: dict[str, Any] = copy.deepcopy(make_mail().get())
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def error_fields(err: Any) -> list[str | None]:
    return [e["field"] for e in json.loads(err.body)["errors"]]


def test_real_client_is_accepted_with_a_message_id(
    server: FakeSendGrid, client: sendgrid.SendGridAPIClient
) -> None:
    mail = make_mail("k1")
    response = client.send(mail)
    assert response.status_code == 202
    assert len(response.headers["X-Message-Id"]) == 22
    assert server.seen("k1") == 1
    assert server.seen("k2") == 0
    assert server.accepted == [mail.get()]
    (request,) = server.requests
    assert (request.method, request.path, request.status) == ("POST", "/v3/mail/send", 202)
    assert request.headers["Authorization"] == f"Bearer {server.api_key}"


@needs_spec
def test_real_client_body_matches_the_spec(
    server: FakeSendGrid, client: sendgrid.SendGridAPIClient
) -> None:
    assert server.validating
    client.send(make_mail())
    assert server.spec_errors == []


@needs_spec
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"from": {"name": "No Address"}}, "from.email"),
        ({"personalizations": {"to": [{"email": "ada@example.test"}]}}, "personalizations"),
        ({"content": [{"type": "text/plain"}]}, "content.0.value"),
        ({"custom_args": {"outreach_key": 7}}, "custom_args.outreach_key"),
    ],
)
def test_spec_rejects_bad_bodies(
    server: FakeSendGrid, client: sendgrid.SendGridAPIClient, changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(BadRequestsError) as info:
        client.client.mail.send.post(request_body=body(**changes))
    assert info.value.status_code == 400
    assert field in error_fields(info.value)
    assert server.spec_errors
    assert server.accepted == []


@needs_spec
def test_custom_args_are_patched_to_objects_of_strings() -> None:
    validator = load_mail_send_validator()
    assert validator is not None
    personalization = {"to": [{"email": "a@example.test"}], "custom_args": {"k": "v"}}
    assert validator.is_valid(body(custom_args={"outreach_key": "k1"}))
    assert validator.is_valid(body(personalizations=[personalization]))
    assert not validator.is_valid(body(custom_args={"outreach_key": 1}))
    assert not validator.is_valid(body(custom_args="k1"))
    personalization["custom_args"] = {"k": 2}
    assert not validator.is_valid(body(personalizations=[personalization]))


@needs_spec
def test_the_patch_fails_loudly_when_the_spec_changes_shape(tmp_path: Path) -> None:
    spec = json.loads(spec_path().read_text(encoding="utf-8"))
    schema = spec["components"]["requestBodies"]["PostMailSend"]["content"]["application/json"]
    del schema["schema"]["properties"]["custom_args"]
    (tmp_path / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    with pytest.raises(RuntimeError, match="custom_args"):
        load_mail_send_validator(tmp_path / "spec.json")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"personalizations": []}, "personalizations"),
        ({"personalizations": [{"to": []}]}, "personalizations.0.to"),
        ({"subject": None}, "subject"),
        ({"content": None}, "content"),
        ({"custom_args": {f"k{i}": "x" * 100 for i in range(100)}}, "custom_args"),
    ],
)
def test_rules_the_schema_cannot_state(
    server: FakeSendGrid, client: sendgrid.SendGridAPIClient, changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(BadRequestsError) as info:
        client.client.mail.send.post(request_body=body(**changes))
    assert field in error_fields(info.value)
    assert server.spec_errors == []
    assert server.accepted == []


def test_template_id_stands_in_for_content_and_subject(
    server: FakeSendGrid, client: sendgrid.SendGridAPIClient
) -> None:
    response = client.client.mail.send.post(
        request_body=body(content=None, subject=None, template_id="d-123")
    )
    assert response.status_code == 202


def test_wrong_key_is_unauthorized(server: FakeSendGrid) -> None:
    client = sendgrid.SendGridAPIClient("SG.wrong", host=server.url)
    with pytest.raises(UnauthorizedError) as info:
        client.send(make_mail())
    assert info.value.status_code == 401
    assert "authorization grant is invalid" in info.value.body.decode()
    assert server.accepted == []
    assert server.requests[0].status == 401


def test_invalid_json_unknown_path_and_wrong_method(server: FakeSendGrid) -> None:
    def status(path: str, method: str, data: bytes | None = None) -> int:
        headers = {"Authorization": f"Bearer {server.api_key}"}
        request = urllib.request.Request(server.url + path, data, headers, method=method)
        with pytest.raises(HTTPError) as info:
            urllib.request.urlopen(request, timeout=5)
        assert "errors" in json.loads(info.value.read())
        return info.value.code

    assert status("/v3/mail/send", "POST", b"{not json") == 400
    assert status("/v3/nothing", "GET") == 404
    assert status("/v3/mail/send", "GET") == 405
    assert [r.status for r in server.requests] == [400, 404, 405]


def test_scripted_429_carries_rate_limit_headers_then_normal_service(
    server: FakeSendGrid, client: sendgrid.SendGridAPIClient
) -> None:
    server.script(Reply(429, {"Retry-After": "3", "X-RateLimit-Reset": "1700000000"}))
    with pytest.raises(TooManyRequestsError) as info:
        client.send(make_mail())
    assert info.value.headers["Retry-After"] == "3"
    assert info.value.headers["X-RateLimit-Reset"] == "1700000000"
    assert server.seen("k1") == 0
    assert client.send(make_mail()).status_code == 202
    assert server.seen("k1") == 1


def test_scripted_500_and_scripted_202(
    server: FakeSendGrid, client: sendgrid.SendGridAPIClient
) -> None:
    server.script(Reply(500), Reply(202))
    with pytest.raises(InternalServerError):
        client.send(make_mail())
    assert server.seen("k1") == 0
    assert client.send(make_mail()).status_code == 202
    assert server.seen("k1") == 1


@pytest.mark.parametrize("after_accept", [True, False])
def test_dropped_connection(
    server: FakeSendGrid, client: sendgrid.SendGridAPIClient, after_accept: bool
) -> None:
    server.script(Drop(after_accept=after_accept))
    # urllib raises http.client.RemoteDisconnected, a ConnectionResetError
    with pytest.raises((ConnectionError, URLError)):
        client.send(make_mail("k9"))
    assert server.seen("k9") == (1 if after_accept else 0)
    assert server.requests[-1].status is None


def test_stall_makes_the_client_time_out(
    server: FakeSendGrid, client: sendgrid.SendGridAPIClient
) -> None:
    server.script(Stall(2))
    # urllib raises TimeoutError (socket.timeout) from reading the response
    with pytest.raises((TimeoutError, URLError)) as info:
        client.client.mail.send.post(request_body=make_mail().get(), timeout=0.3)
    if isinstance(info.value, URLError):
        assert isinstance(info.value.reason, TimeoutError)


def test_concurrent_clients_are_all_accepted(
    server: FakeSendGrid, client: sendgrid.SendGridAPIClient
) -> None:
    server.latency = 0.005

    def send_many(worker: int) -> None:
        for i in range(25):
            assert client.send(make_mail(f"w{worker}-{i}")).status_code == 202

    threads = [threading.Thread(target=send_many, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(server.accepted) == 200
    assert set(server.accepted_keys().values()) == {1}
    assert len(server.accepted_keys()) == 200


def test_a_stalled_request_does_not_block_others(
    server: FakeSendGrid, client: sendgrid.SendGridAPIClient
) -> None:
    server.script(Stall(1.0))
    stalled = threading.Thread(target=client.send, args=(make_mail("slow"),), daemon=True)
    stalled.start()
    deadline = time.monotonic() + 5
    while server._script and time.monotonic() < deadline:  # until the stall has been taken
        time.sleep(0.01)
    assert client.send(make_mail("fast")).status_code == 202
    assert stalled.is_alive()
    assert server.seen("slow") == 0
    stalled.join(timeout=5)
    assert server.seen("slow") == 1


def test_seen_counts_personalization_custom_args(
    server: FakeSendGrid, client: sendgrid.SendGridAPIClient
) -> None:
    personalization = {"to": [{"email": "a@example.test"}], "custom_args": {"outreach_key": "p1"}}
    client.client.mail.send.post(request_body=body(personalizations=[personalization]))
    assert server.seen("p1") == 1
    assert server.accepted_keys() == {"k1": 1, "p1": 1}


def test_missing_spec_means_no_validation(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(SPEC_ENV, str(tmp_path / "absent.json"))
    assert spec_path() == tmp_path / "absent.json"
    assert load_mail_send_validator() is None
    with FakeSendGrid() as server:
        assert not server.validating
        client = sendgrid.SendGridAPIClient(server.api_key, host=server.url)
        client.client.mail.send.post(request_body=body(custom_args={"outreach_key": 7}))
        assert client.send(make_mail()).status_code == 202
        assert server.spec_errors == []
        assert len(server.accepted) == 2


def test_validation_can_be_switched_off() -> None:
    with FakeSendGrid(validate=False) as server:
        assert not server.validating
