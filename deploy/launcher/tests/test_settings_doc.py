"""The README's configuration table is generated from the settings classes and cannot drift."""

from __future__ import annotations

from pathlib import Path

from tierline_launcher import settings_doc
from tierline_launcher.paths import repo_root
from tierline_launcher.system import SERVICES


def test_readme_table_matches_the_settings_classes() -> None:
    assert settings_doc.is_current(repo_root() / "README.md"), (
        "README.md's configuration table is out of date: run `make docs`"
    )


def test_every_setting_of_every_service_is_documented_with_a_description() -> None:
    table = settings_doc.render()
    for service in SERVICES:
        cls = settings_doc.settings_class(service.module)
        for name in cls.model_fields:
            assert f"`TIERLINE_{name.upper()}`" in table, f"{service.name}.{name} missing"
    undescribed = [s.variable for s in settings_doc.collect() if not s.description]
    assert not undescribed, f"settings without a description for the README: {undescribed}"


def test_per_service_defaults_are_listed_per_service() -> None:
    [port] = [s for s in settings_doc.collect() if s.variable == "TIERLINE_PORT"]
    assert port.defaults == {s.name: f"`{s.default_port}`" for s in SERVICES}


def test_write_replaces_only_the_block(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nbefore\n\n{settings_doc.BEGIN}\nstale\n{settings_doc.END}\n\nafter\n")
    assert settings_doc.write(readme) is True
    text = readme.read_text()
    assert text.startswith("# Title\n\nbefore\n\n") and text.endswith("\n\nafter\n")
    assert "stale" not in text and settings_doc.is_current(readme)
    assert settings_doc.write(readme) is False


def test_durations_are_shown_as_the_variable_takes_them() -> None:
    from datetime import timedelta

    from pydantic import Field, TypeAdapter

    shown = settings_doc._default(Field(default=timedelta(days=14)))
    assert shown == "`P14D`"
    assert TypeAdapter(timedelta).validate_python(shown.strip("`")) == timedelta(days=14)
    assert settings_doc._default(Field(default=timedelta(minutes=30))) == "`PT30M`"
