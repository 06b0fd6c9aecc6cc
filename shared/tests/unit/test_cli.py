"""The services' command line: admin commands in --help, `make run`'s database found, one-line failures."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from tierline_shared import cli
from tierline_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    port: int = 8009


def _widget(received: list[tuple[argparse.Namespace, ServiceSettings]]) -> cli.AdminCommand:
    def configure(p: argparse.ArgumentParser) -> None:
        p.add_argument("--name", required=True)

    def handle(args: argparse.Namespace, settings: ServiceSettings) -> int:
        received.append((args, settings))
        return 0

    return cli.AdminCommand(name="widget", help="manage widgets", configure=configure, handle=handle)


def _run(argv: list[str], command: cli.AdminCommand, tmp_path: Path) -> int:
    return cli.run(
        service="sla-monitor",
        app_factory="nowhere:create_app",
        settings=Settings,
        package_file=str(tmp_path / "pkg" / "__main__.py"),
        argv=argv,
        admin_commands=[command],
    )


def test_help_lists_serve_migrate_and_the_admin_commands(capsys) -> None:
    parser = cli.parser("intake", [_widget([])])
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["--help"])
    assert exit_.value.code == 0
    shown = capsys.readouterr().out
    for word in ("serve", "migrate", "widget", "manage widgets"):
        assert word in shown


def test_finds_the_database_of_make_run_from_a_subfolder(tmp_path: Path) -> None:
    (tmp_path / ".run").mkdir()
    nested = tmp_path / "services" / "router"
    nested.mkdir(parents=True)
    url = cli.local_database_url("sla-monitor", {}, [nested])
    assert url == "postgresql+asyncpg://tierline@127.0.0.1:55432/sla_monitor"
    moved = cli.local_database_url("intake", {"TIERLINE_RUN_POSTGRES_PORT": "6000"}, [nested])
    assert moved == "postgresql+asyncpg://tierline@127.0.0.1:6000/intake"


def test_an_explicit_database_wins_and_no_run_folder_means_no_guess(tmp_path: Path) -> None:
    (tmp_path / ".run").mkdir()
    assert cli.local_database_url("intake", {"TIERLINE_DATABASE_URL": "postgresql://x/y"}, [tmp_path]) is None
    own = {"TIERLINE_VENDOR_GATEWAY_DATABASE_URL": "postgresql://db/gw"}
    assert cli.local_database_url("vendor-gateway", own, [tmp_path]) == "postgresql://db/gw"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert (
        cli.local_database_url("intake", {"TIERLINE_RUN_DIR": str(elsewhere / "missing")}, [tmp_path]) is None
    )
    assert cli.find_run_dir({"TIERLINE_RUN_DIR": str(elsewhere)}, [tmp_path]) == elsewhere


def test_the_admin_command_gets_the_make_run_database(tmp_path: Path, monkeypatch, capsys) -> None:
    (tmp_path / ".run").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TIERLINE_DATABASE_URL", raising=False)
    monkeypatch.delenv("TIERLINE_RUN_DIR", raising=False)
    monkeypatch.delenv("TIERLINE_HOME", raising=False)
    monkeypatch.setenv("TIERLINE_RUN_POSTGRES_PORT", "55999")
    received: list[tuple[argparse.Namespace, ServiceSettings]] = []
    assert _run(["widget", "--name", "w1"], _widget(received), tmp_path) == 0
    args, settings = received[0]
    assert args.name == "w1"
    assert settings.database_url == "postgresql+asyncpg://tierline@127.0.0.1:55999/sla_monitor"
    assert capsys.readouterr().err == ""  # a command that works says nothing more than its own output


@pytest.mark.parametrize(
    "failure",
    [
        ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)"),
        OperationalError("SELECT 1", {}, OSError('database "intake" does not exist\nDETAIL: more')),
    ],
)
def test_a_database_failure_is_one_line_with_exit_code_1(
    failure, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TIERLINE_DATABASE_URL", "postgresql://tierline:s3cret@127.0.0.1:1/intake")

    def handle(args: argparse.Namespace, settings: ServiceSettings) -> int:
        raise failure

    command = cli.AdminCommand(name="widget", help="manage widgets", configure=lambda p: None, handle=handle)
    assert _run(["widget"], command, tmp_path) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("tierline-sla-monitor: cannot use the database at postgresql://tierline:***@")
    assert "s3cret" not in err


def test_other_errors_are_not_hidden(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TIERLINE_DATABASE_URL", "postgresql://tierline@127.0.0.1:1/intake")

    def handle(args: argparse.Namespace, settings: ServiceSettings) -> int:
        raise KeyError("a bug")

    command = cli.AdminCommand(name="widget", help="manage widgets", configure=lambda p: None, handle=handle)
    with pytest.raises(KeyError):
        _run(["widget"], command, tmp_path)


def test_make_run_s_database_when_it_is_not_running_is_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    (tmp_path / ".run").mkdir()
    monkeypatch.chdir(tmp_path)
    for name in ("TIERLINE_DATABASE_URL", "TIERLINE_RUN_DIR", "TIERLINE_HOME", "TIERLINE_RUN_POSTGRES_PORT"):
        monkeypatch.delenv(name, raising=False)

    def handle(args: argparse.Namespace, settings: ServiceSettings) -> int:
        raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 55432)")

    command = cli.AdminCommand(name="widget", help="manage widgets", configure=lambda p: None, handle=handle)
    assert _run(["widget"], command, tmp_path) == 1
    assert capsys.readouterr().err == (
        "tierline-sla-monitor: cannot use the database of `make run` at "
        "postgresql+asyncpg://tierline@127.0.0.1:55432/sla_monitor: "
        "[Errno 111] Connect call failed ('127.0.0.1', 55432) (is `make run` running?)\n"
    )
