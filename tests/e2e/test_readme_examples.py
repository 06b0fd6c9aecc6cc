"""Every shell example in README.md runs, in order, in one bash session against the whole system.

How the README is read (keep to it when you add an example):

- Each ```console block holds commands and what they print. A command starts with ``$ `` and
  continues onto the following lines while it ends with ``\\`` or a quote is still open; the lines
  after it, up to the next ``$ ``, are the answer it shows (none is fine).
- Every block runs, in README order, in one ``bash`` with ``set -euo pipefail``, so variables set
  by one example (``$TIERLINE_KEY``, ``$INCIDENT``…) serve the next. A block is left out only with
  ``<!-- readme-test: skip: why -->`` on the line before its fence (make run, docker compose, the
  vendor simulator: things that start servers or never end).
- ``<!-- readme-test: retry: why -->`` before a block marks answers that arrive asynchronously
  (the router assigns after intake answers): each of its commands that shows an answer must be a
  read (no ``-X``) and is repeated until the answer matches, for at most RETRY_SECONDS.
- A shown JSON answer is a pattern: ``"…"`` or a bare ``…`` as a value means any value, ``…`` inside a
  string any text, ``…`` among an object's keys allows more keys and among a list's items more items
  (the shown ones must appear in that order). Everything else shown must be there, as shown; an
  object without ``…`` must have exactly the keys shown. Other answers are compared line by line.
- curl is wrapped to report each answer's HTTP status on stderr: a status of 400 or more fails the
  command unless its shown answer says ``"status": <that code>`` (curl itself exits 0 on them).
- The session is the README reader's: it runs in a folder holding ``.run/dev-api-key`` (the
  system's admin key) and ``.venv`` (this interpreter's environment); ``http://127.0.0.1:8001``…``8004``
  become the system's URLs, in commands and shown answers, and ``127.0.0.1:2525`` (intake's SMTP
  receiver under `make run`, mailed at ``…@tierline.localhost``) its mail port; intake's
  ``TIERLINE_DATABASE_URL`` is set as it is where intake runs. Runnable commands may not hold
  placeholders (``…``, ``<id>``).

The e2e system runs second-scale escalation ladders; the README describes ``make run``, so the
test first puts deploy/config/router.yaml's escalation policies back through the router's API.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.e2e.conftest import ADMIN_KEY, System
from tests.support.readme import (
    MARKER,
    Arr,
    Block,
    Obj,
    console_blocks,
    json_pattern,
    mismatches,
    parse_commands,
    text_mismatches,
)
from tests.support.shell import Shell
from tierline_launcher.paths import repo_root
from tierline_launcher.system import Infra

pytestmark = pytest.mark.e2e

README = repo_root() / "README.md"
PORTS = {"8001": "intake", "8002": "router", "8003": "sla-monitor", "8004": "vendor-gateway"}
LOCAL_URL = re.compile(r"http://127\.0\.0\.1:(800[1-4])\b")
MAIL_LISTEN = re.compile(r"\b127\.0\.0\.1:2525\b")  # intake's SMTP receiver under `make run`
MAILBOX = re.compile(r"[\w.+-]+@tierline\.localhost\b")  # deploy/config/mailboxes.yaml's addresses
COMMAND_SECONDS = 30.0
RETRY_SECONDS = 30.0
PRELUDE = """set -euo pipefail
curl() { command curl -w '%{stderr}readme-test: HTTP %{http_code}\\n' "$@"; }
"""
HTTP_STATUS = re.compile(r"^readme-test: HTTP (\d{3})$", re.MULTILINE)
SHOWN_STATUS = re.compile(r'"status":\s*(\d{3})\b')
PLACEHOLDER = re.compile(r"…|<[A-Za-z][\w -]*>")


def _runnable() -> list[Block]:
    return [b for b in console_blocks(README) if b.mode != "skip"]


def test_readme_blocks_follow_the_conventions() -> None:
    lines = README.read_text().splitlines()
    for number, line in enumerate(lines[:-1], start=1):
        if line.startswith("<!-- readme-test"):
            assert MARKER.match(line.strip()) and lines[number].strip() == "```console", (
                f"README line {number}: put <!-- readme-test: skip|retry: why --> right above a fence"
            )
    blocks = console_blocks(README)
    assert len(_runnable()) >= 8, "the README's examples were not found; is the ```console fence intact?"
    for block in blocks:
        assert block.commands, f"README line {block.line}: a console block without commands"
        if block.mode == "skip":
            assert block.reason, f"README line {block.line}: say why the block is not run"
            continue
        for command in block.commands:
            where = f"README line {command.line}: {command.text!r}"
            assert not PLACEHOLDER.search(command.text), f"{where}: a placeholder cannot be pasted"
            assert "localhost" not in MAILBOX.sub("", command.text) and not re.search(
                r"127\.0\.0\.1:(?!(800[1-4]|2525)\b)", command.text
            ), f"{where}: services are reached at http://127.0.0.1:8001..8004 (mail: 127.0.0.1:2525)"
            if block.mode == "retry" and command.shown:
                assert " -X " not in f" {command.text} ", f"{where}: only reads may be repeated"


def _local(text: str, system: System) -> str:
    text = MAIL_LISTEN.sub(f"127.0.0.1:{system.mail_port}", text)
    return LOCAL_URL.sub(lambda m: system.url(PORTS[m.group(1)]), text)


def _answer_mismatches(shown: str, stdout: str, stderr: str) -> list[str]:
    found = []
    statuses = HTTP_STATUS.findall(stderr)
    expected = set(SHOWN_STATUS.findall(shown))
    found += [
        f"HTTP {s} (the README shows no such status)" for s in statuses if s >= "400" and s not in expected
    ]
    if not shown:
        return found
    if shown[0] in "{[":
        try:
            actual = json.loads(stdout)
        except json.JSONDecodeError:
            return [*found, f"the answer is not JSON: {stdout[:500]!r}"]
        return found + mismatches(json_pattern(shown), actual)
    return found + text_mismatches(shown, stdout)


def _restore_escalation_policies(system: System) -> None:
    router = yaml.safe_load((repo_root() / "deploy" / "config" / "router.yaml").read_text())
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    for policy in router["escalation_policies"]:
        body = {k: v for k, v in policy.items() if k != "name"}
        url = f"{system.url('router')}/v1/escalation-policies/{policy['name']}"
        answer = httpx.put(url, json=body, headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text


def _session(folder: Path, infra: Infra, system: System) -> Shell:
    (folder / ".run").mkdir()
    (folder / ".run" / "dev-api-key").write_text(ADMIN_KEY + "\n")
    (folder / ".venv").symlink_to(sys.prefix)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERLINE_")}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    env["TIERLINE_DATABASE_URL"] = infra.database_url(system.services.database_prefix + "intake")
    return Shell(folder, env, PRELUDE)


def test_readme_examples_run_and_answer_as_shown(infra: Infra, system: System, tmp_path: Path) -> None:
    _restore_escalation_policies(system)
    shell = _session(tmp_path, infra, system)
    ran = 0
    try:
        for block in _runnable():
            for command in block.commands:
                text, shown = _local(command.text, system), _local(command.shown, system)
                deadline = time.monotonic() + RETRY_SECONDS
                while True:
                    result = shell.run(text, timeout=COMMAND_SECONDS)
                    where = f"README line {command.line}:\n{command.text}\n"
                    assert result.status == 0, (
                        f"{where}exited {result.status}\n{result.stdout}\n{result.stderr}"
                    )
                    problems = _answer_mismatches(shown, result.stdout, result.stderr)
                    if not problems or block.mode != "retry" or time.monotonic() > deadline:
                        break
                    time.sleep(0.2)
                assert not problems, f"{where}answered\n{result.stdout}\n" + "\n".join(problems)
                ran += 1
    finally:
        shell.close()
    assert ran == sum(len(b.commands) for b in _runnable())


# --- the checks themselves: a wrong answer is caught ----------------------------------------------


def test_a_shown_answer_is_a_pattern() -> None:
    shown = (
        '{"id": "…", "tier": "L1", "sla": {"response": {"breached": false, …}, …},'
        ' "timeline": [{"kind": "created", …}, …], …}'
    )
    actual = {
        "id": "9a92",
        "tier": "L1",
        "extra": 1,
        "sla": {"response": {"breached": False, "due_at": "x"}, "tier": {}},
        "timeline": [{"kind": "created", "at": "t"}, {"kind": "assigned"}],
    }
    pattern = json_pattern(shown)
    assert isinstance(pattern, Obj) and pattern.more and isinstance(pattern.keys["timeline"], Arr)
    assert mismatches(pattern, actual) == []
    assert mismatches(pattern, {**actual, "tier": "L2"}) == ["$.tier: expected 'L1', got 'L2'"]
    assert mismatches(pattern, {**actual, "sla": {"response": {"breached": 0}}}) == [
        "$.sla.response.breached: expected False, got 0"
    ]
    assert mismatches(pattern, {k: v for k, v in actual.items() if k != "id"}) == ["$: no key 'id'"]
    assert mismatches(json_pattern('{"status": 422}'), {"status": 422, "title": "x"})  # no …: exact keys
    assert mismatches(json_pattern('{"key": "tl_…"}'), {"key": "whsec_x"})
    assert not mismatches(json_pattern('{"key": "tl_…", "n": …}'), {"key": "tl_abc", "n": None})


def test_shown_list_items_appear_in_order() -> None:
    pattern = json_pattern('[{"kind": "created", …}, {"kind": "assigned", …}, …]')
    created, noted, assigned = {"kind": "created"}, {"kind": "note"}, {"kind": "assigned"}
    assert not mismatches(pattern, [created, noted, assigned, noted])
    assert mismatches(pattern, [assigned, created])
    assert mismatches(json_pattern('[{"kind": "created"}]'), [created, noted])  # no …: exactly these


def test_plain_answers_compare_line_by_line() -> None:
    assert not text_mismatches("id: …\nrevoked", "id: 7ecd\nrevoked\n")
    assert text_mismatches("id: …\nrevoked", "id: 7ecd\nactive")


def test_an_answer_with_an_unshown_error_status_fails() -> None:
    assert _answer_mismatches("", "{}", "readme-test: HTTP 401\n") == [
        "HTTP 401 (the README shows no such status)"
    ]
    shown = '{"title": "Your request is not valid", "status": 422, …}'
    answer = '{"title": "Your request is not valid", "status": 422, "detail": "x"}'
    assert _answer_mismatches(shown, answer, "readme-test: HTTP 422\n") == []


def test_commands_continue_while_open() -> None:
    readme = [
        (1, "$ X=$(curl -s http://a \\"),
        (2, "    -d '{"),
        (3, '    "a": 1}\')'),
        (4, '$ echo "$X"'),
        (5, '{"a": 1,'),
        (6, ' "b": 2}'),
    ]
    first, second = parse_commands(readme)
    assert first.text.endswith('"a": 1}\')') and first.shown == "" and first.line == 1
    assert second.text == 'echo "$X"' and second.shown == '{"a": 1,\n "b": 2}'
