"""Templates run in a sandbox; client data is data, never template code; a template that
tries too much fails its own messages, quickly, and nothing else."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import NOW, make_workspace, run_cli


def _rule(rule_id: str, template: str) -> str:
    return (
        f"  - id: {rule_id}\n"
        "    trigger:\n"
        "      birthday: {}\n"
        "    action:\n"
        f"      email: {{template: {template}}}\n"
    )


HELLO = (
    "{% block subject %}Hello {{ contact.first_name }}{% endblock %}\n"
    "{% block text %}Dear {{ contact.first_name }},{% endblock %}\n"
    "{% block html %}<p>Dear {{ contact.first_name }},</p>{% endblock %}\n"
)

EVIL = {
    # line 4 reaches for Python internals
    "mro.j2": (
        "{% block subject %}Hi{% endblock %}\n"
        "{% block text %}\n"
        "line two\n"
        "{{ ''.__class__.__mro__ }}\n"
        "{% endblock %}\n"
    ),
    # line 3
    "attr.j2": (
        "{% block subject %}Hi{% endblock %}\n"
        "{% block text %}\n"
        "{{ contact|attr('__class__') }}\n"
        "{% endblock %}\n"
    ),
    # line 3: a hundred million characters
    "bomb.j2": (
        "{% block subject %}Hi{% endblock %}\n{% block text %}\n{{ 'x' * 10**8 }}\n{% endblock %}\n"
    ),
}

CONTACTS = [
    {
        "id": "c-jinja",
        "first_name": "{{ 7*7 }}",
        "last_name": "{% raw %}",
        "email": "jinja@example.test",
        "birthday": "1980-06-10",
    },
    {
        "id": "c-script",
        "first_name": "<script>alert(1)</script>",
        "last_name": "O'Brien & Co",
        "email": "script@example.test",
        "birthday": "1980-06-11",
    },
]


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    ws = make_workspace(
        tmp_path_factory.mktemp("evil"),
        contacts=CONTACTS,
        rules={
            "r.yaml": "rules:\n"
            + "".join(
                _rule(name.removesuffix(".j2"), name.removesuffix(".j2"))
                for name in ["hello.j2", *EVIL]
            )
        },
        templates={"hello.j2": HELLO, **EVIL},
    )
    result = run_cli(
        "preview", "--workspace", ws, "--now", NOW, "--days", "30", "--format", "json", cwd=ws
    )
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _one(plan: list[dict], rule: str, contact: str) -> dict:
    (found,) = [d for d in plan if d["rule"] == rule and d["contact"] == contact]
    return found


@pytest.mark.parametrize(
    ("rule", "where"),
    [
        ("mro", "templates/mro.j2:4"),
        ("attr", "templates/attr.j2:3"),
        ("bomb", "templates/bomb.j2:3"),
    ],
)
@pytest.mark.parametrize("contact", ["c-jinja", "c-script"])
def test_evil_template_is_an_error_naming_file_and_line(
    plan: list[dict], rule: str, where: str, contact: str
) -> None:
    decision = _one(plan, rule, contact)

    assert decision["status"] == "error"
    assert where in decision["reason"]
    assert decision["subject"] is None and decision["text"] is None and decision["html"] is None


@pytest.mark.parametrize("rule", ["mro", "attr"])
def test_internals_never_leak(plan: list[dict], rule: str) -> None:
    text = json.dumps([d for d in plan if d["rule"] == rule])
    for leak in ("<class", "object at 0x", "builtins", "mappingproxy"):
        assert leak not in text


def test_contact_data_is_never_run_as_a_template(plan: list[dict]) -> None:
    decision = _one(plan, "hello", "c-jinja")

    assert decision["status"] == "planned"
    assert decision["subject"] == "Hello {{ 7*7 }}"
    assert decision["text"] == "Dear {{ 7*7 }},"
    assert "{{ 7*7 }}" in decision["html"]
    assert "49" not in json.dumps(decision)


def test_markup_in_contact_data_is_escaped_in_html_only(plan: list[dict]) -> None:
    decision = _one(plan, "hello", "c-script")

    assert decision["status"] == "planned"
    assert decision["subject"] == "Hello <script>alert(1)</script>"
    assert decision["text"] == "Dear <script>alert(1)</script>,"
    assert "<script>" not in decision["html"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in decision["html"]


def test_html_preview_page_runs_no_client_script(tmp_path: Path) -> None:
    ws = make_workspace(
        tmp_path,
        contacts=CONTACTS,
        rules={"r.yaml": "rules:\n" + _rule("hello", "hello")},
        templates={"hello.j2": HELLO},
    )
    result = run_cli("preview", "--workspace", ws, "--now", NOW, "--days", "30", "--format", "html")

    assert result.exit_code == 0
    assert "<script" not in result.stdout.lower()


def test_header_injection_in_subject_is_flattened(tmp_path: Path) -> None:
    ws = make_workspace(
        tmp_path,
        contacts=[
            {
                "id": "c-1",
                "first_name": "Eve\r\nBcc: victim@example.test",
                "email": "eve@example.test",
                "birthday": "06-10",
            }
        ],
        rules={"r.yaml": "rules:\n" + _rule("hello", "hello")},
        templates={"hello.j2": HELLO},
    )
    result = run_cli("preview", "--workspace", ws, "--now", NOW, "--days", "30", "--format", "json")
    (decision,) = json.loads(result.stdout)

    assert "\r" not in decision["subject"] and "\n" not in decision["subject"]


def test_evil_when_condition_is_refused(tmp_path: Path) -> None:
    rules = (
        "rules:\n"
        "  - id: sneaky\n"
        "    trigger:\n"
        "      birthday: {}\n"
        '    when: "contact.__class__.__mro__ is defined"\n'
        "    action:\n"
        "      email: {template: hello}\n"
    )
    ws = make_workspace(
        tmp_path,
        contacts=[
            {"id": "c-1", "first_name": "Ada", "email": "a@example.test", "birthday": "06-10"}
        ],
        rules={"r.yaml": rules},
        templates={"hello.j2": HELLO},
    )
    result = run_cli("preview", "--workspace", ws, "--now", NOW, "--days", "30", "--format", "json")

    plan = json.loads(result.stdout)
    assert all(d["status"] == "error" for d in plan), plan
    assert all(d["subject"] is None for d in plan)


FLOOD = (
    "{% block subject %}Hi{% endblock %}\n"
    "{% block text %}{% for i in range(99999) %}{% for j in range(99999) %}"
    "xxxxxxxxxx{% endfor %}{% endfor %}{% endblock %}\n"
)


def test_flood_of_output_is_an_error(tmp_path: Path) -> None:
    ws = make_workspace(
        tmp_path,
        contacts=CONTACTS[:1],
        rules={"r.yaml": "rules:\n" + _rule("flood", "flood")},
        templates={"flood.j2": FLOOD},
    )
    result = run_cli(
        "preview", "--workspace", ws, "--now", NOW, "--days", "30", "--format", "json", cwd=ws
    )
    (decision,) = json.loads(result.stdout)
    assert decision["status"] == "error"
    assert "templates/flood.j2:2" in decision["reason"]
    # Stopped by the output cap (within milliseconds), not by running out the clock.
    assert "output" in decision["reason"], decision["reason"]


def test_endless_loop_is_stopped_not_a_hang(tmp_path: Path) -> None:
    """Nested loops that neither call anything nor print: only a deadline stops them.

    Run in a child process, so that a hang fails the test instead of freezing the suite.
    """
    loop = (
        "{% block subject %}Hi{% endblock %}\n"
        "{% block text %}\n"
        "{% set xs = 'x' * 30000 %}{% for i in xs %}{% for j in xs %}{% endfor %}{% endfor %}\n"
        "{% endblock %}\n"
    )
    ws = make_workspace(
        tmp_path,
        contacts=[
            {"id": "c-1", "first_name": "Ada", "email": "a@example.test", "birthday": "06-10"}
        ],
        rules={"r.yaml": "rules:\n" + _rule("loop", "loop")},
        templates={"loop.j2": loop},
    )
    command = [
        sys.executable,
        "-m",
        "outreach",
        "preview",
        "--workspace",
        str(ws),
        "--now",
        NOW,
        "--days",
        "30",
        "--format",
        "json",
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=15, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("a template with a 900-million-step loop was not stopped by the deadline")
    (decision,) = json.loads(done.stdout)
    assert decision["status"] == "error"
    assert "templates/loop.j2" in decision["reason"] or "loop.j2" in decision["reason"]


def test_a_template_or_condition_nested_too_deeply_is_a_located_error_and_the_rest_plans(
    tmp_path: Path,
) -> None:
    deep_when = _rule("deep-when", "hello").replace(
        "    action:", '    when: "' + "(" * 200 + "1" + ")" * 200 + '"\n    action:'
    )
    ws = make_workspace(
        tmp_path,
        contacts=CONTACTS,
        rules={"r.yaml": "rules:\n" + _rule("hello", "hello") + _rule("deep", "deep") + deep_when},
        templates={
            "hello.j2": HELLO,
            "deep.j2": "{% block subject %}Hi{% endblock %}\n{% block text %}"
            + "{% if 1 %}" * 500
            + "x"
            + "{% endif %}" * 500
            + "{% endblock %}",
        },
    )

    validated = run_cli("validate", "--workspace", ws, cwd=ws)
    assert validated.exit_code == 1
    assert "templates/deep.j2:2: template syntax: nested too deeply" in validated.stderr
    assert (
        "rules/r.yaml:15:11: rules[2].when: does not compile (this rule is skipped): "
        "brackets nested more than 20" in validated.stderr
    )
    plan = json.loads(
        run_cli("preview", "--workspace", ws, "--now", NOW, "--format", "json").stdout
    )
    assert {d["status"] for d in plan if d["rule"] == "hello"} == {"planned"}
    assert {d["status"] for d in plan if d["rule"] == "deep"} == {"error"}
    assert not [d for d in plan if d["rule"] == "deep-when"]  # skipped, as validate says
