"""The README's notifications.yaml example is a valid file, and the shipped one is too."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from tierline_notifier.config import NotificationsConfig, Settings, load_notifications

ROOT = Path(__file__).resolve().parents[4]


def test_the_readme_example_is_a_valid_notifications_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALICE_SLACK_WEBHOOK", "https://hooks.slack.com/services/T0/B0/XXXX")
    section = (ROOT / "README.md").read_text().split("## Notifications", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None
    people, teams = NotificationsConfig.model_validate(yaml.safe_load(block.group(1))).directory()
    (alice,) = people
    assert [(c.name, d) for c, d in alice.steps("assigned", "high")] == [
        ("chat", timedelta(0)),
        ("work", timedelta(minutes=5)),
    ]
    assert alice.contact("chat") is not None and alice.contact("chat").url.endswith("XXXX")  # type: ignore[union-attr]
    assert teams[0].lead == "lena"


def test_a_contact_url_from_an_unset_variable_stops_the_start_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NOBODY_SET_THIS", raising=False)
    data = {
        "people": [
            {"name": "x", "contacts": [{"name": "c", "type": "slack", "url": {"env": "NOBODY_SET_THIS"}}]}
        ]
    }
    with pytest.raises(ValueError, match="person x: contact c has no url \\(set NOBODY_SET_THIS\\)"):
        NotificationsConfig.model_validate(data)


def test_the_shipped_directory_names_every_agent_of_router_yaml() -> None:
    people, teams = load_notifications(Settings(config_dir=ROOT / "deploy" / "config")).directory()
    router = yaml.safe_load((ROOT / "deploy" / "config" / "router.yaml").read_text())
    assert {a["name"] for a in router["agents"]} <= {p.name for p in people}
    assert {q["name"] for q in router["queues"]} == {t.name for t in teams}
    assert all(t.lead in {p.name for p in people} for t in teams)
