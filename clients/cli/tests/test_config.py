"""Finding the services and the API key: the environment first, else what `make run` left behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tierline_cli.config import dev_key_file, discover, service_urls


def test_local_defaults_are_the_ports_of_make_run() -> None:
    assert service_urls({}) == {
        "intake": "http://127.0.0.1:8001",
        "router": "http://127.0.0.1:8002",
        "sla-monitor": "http://127.0.0.1:8003",
        "vendor-gateway": "http://127.0.0.1:8004",
    }
    moved = service_urls({"TIERLINE_RUN_ROUTER_PORT": "9802", "TIERLINE_RUN_VENDOR_GATEWAY_PORT": "9804"})
    assert moved["router"] == "http://127.0.0.1:9802" and moved["vendor-gateway"] == "http://127.0.0.1:9804"


def test_the_other_services_follow_tierline_url_unless_named() -> None:
    urls = service_urls(
        {
            "TIERLINE_URL": "https://tierline.example.com:8001/",
            "TIERLINE_GATEWAY_URL": "https://gw.example.com/",
        }
    )
    assert urls["intake"] == "https://tierline.example.com:8001"
    assert urls["router"] == "https://tierline.example.com:8002"
    assert urls["sla-monitor"] == "https://tierline.example.com:8003"
    assert urls["vendor-gateway"] == "https://gw.example.com"
    assert service_urls({"TIERLINE_URL": "http://[::1]:8001"})["router"] == "http://[::1]:8002"


def test_tierline_key_wins(tmp_path: Path) -> None:
    (tmp_path / ".run").mkdir()
    (tmp_path / ".run" / "dev-api-key").write_text("tl_dev_file\n")
    target = discover({"TIERLINE_KEY": "tl_mine"}, tmp_path)
    assert (target.key, target.key_origin) == ("tl_mine", "TIERLINE_KEY")


def test_the_dev_key_of_make_run_is_found_from_a_subfolder(tmp_path: Path) -> None:
    (tmp_path / ".run").mkdir()
    (tmp_path / ".run" / "dev-api-key").write_text("tl_dev_abc\n")
    deep = tmp_path / "services" / "router" / "src"
    deep.mkdir(parents=True)
    target = discover({}, deep)
    assert target.key == "tl_dev_abc"
    assert target.key_origin == str(tmp_path / ".run" / "dev-api-key")


def test_tierline_run_dir_names_the_run_folder(tmp_path: Path) -> None:
    run = tmp_path / "elsewhere"
    run.mkdir()
    (run / "dev-api-key").write_text("tl_dev_elsewhere")
    (tmp_path / ".run").mkdir()
    (tmp_path / ".run" / "dev-api-key").write_text("tl_dev_here")
    assert discover({"TIERLINE_RUN_DIR": str(run)}, tmp_path).key == "tl_dev_elsewhere"
    assert dev_key_file({"TIERLINE_RUN_DIR": "nowhere"}, tmp_path) is None


def test_make_run_s_own_bootstrap_key_beats_its_dev_key_file(tmp_path: Path) -> None:
    """`make run` hands the services TIERLINE_BOOTSTRAP_API_KEY instead of its file's key when it is set."""
    (tmp_path / ".run").mkdir()
    (tmp_path / ".run" / "dev-api-key").write_text("tl_dev_file")
    assert discover({"TIERLINE_BOOTSTRAP_API_KEY": "tl_boot"}, tmp_path).key == "tl_boot"


def test_the_local_key_never_goes_to_another_host(tmp_path: Path) -> None:
    (tmp_path / ".run").mkdir()
    (tmp_path / ".run" / "dev-api-key").write_text("tl_dev_file")
    remote = discover(
        {"TIERLINE_URL": "https://tierline.example.com", "TIERLINE_BOOTSTRAP_API_KEY": "x"}, tmp_path
    )
    assert remote.key is None
    assert discover({"TIERLINE_URL": "http://localhost:9001"}, tmp_path).key == "tl_dev_file"


def test_no_key_anywhere(tmp_path: Path) -> None:
    target = discover({}, tmp_path)
    assert target.key is None and target.key_origin is None


def test_the_local_key_never_goes_to_a_remote_service_either(tmp_path: Path) -> None:
    (tmp_path / ".run").mkdir()
    (tmp_path / ".run" / "dev-api-key").write_text("tl_dev_file")
    for variable in ("TIERLINE_GATEWAY_URL", "TIERLINE_ROUTER_URL", "TIERLINE_SLA_URL"):
        target = discover({variable: "https://elsewhere.example.com"}, tmp_path)
        assert target.key is None, variable


@pytest.mark.skipif(os.getuid() != 0, reason="only root can give a file to another user")
def test_a_key_file_of_another_user_or_behind_a_link_is_not_taken(tmp_path: Path) -> None:
    planted = tmp_path / "shared" / ".run"
    planted.mkdir(parents=True)
    (planted / "dev-api-key").write_text("tl_planted")
    os.chown(planted / "dev-api-key", 65534, 65534)  # someone else's, e.g. in a shared /tmp
    assert dev_key_file({}, tmp_path / "shared") is None
    linked = tmp_path / "linked" / ".run"
    linked.mkdir(parents=True)
    (linked / "dev-api-key").symlink_to(planted / "dev-api-key")
    assert dev_key_file({}, tmp_path / "linked") is None
