"""Settings precedence, validation, and documentation of every setting."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from archive.errors import SettingsError
from archive.settings import SETTINGS, load_settings

ROOT = Path(__file__).resolve().parent.parent


def test_precedence_defaults_file_env_flags(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "citewatch.toml").write_text("timeout = 11\nhost_delay = 3\nretries = 5\n")
    env = {"CITEWATCH_HOME": str(home), "CITEWATCH_HOST_DELAY": "0.5", "CITEWATCH_RETRIES": "4"}
    s = load_settings({"retries": 1}, env=env)
    assert (s.concurrency, s.origin("concurrency")) == (32, "default")
    assert (s.timeout, s.origin("timeout")) == (11.0, str(home / "citewatch.toml"))
    assert (s.host_delay, s.origin("host_delay")) == (0.5, "environment")
    assert (s.retries, s.origin("retries")) == (1, "flag")
    assert s.effective_database_url == f"sqlite:///{home / 'citewatch.db'}"
    assert s.warc_dir == home / "warcs"


def test_config_flag_and_database_url(tmp_path: Path) -> None:
    cfg = tmp_path / "other.toml"
    cfg.write_text(
        f'home = "{tmp_path / "h"}"\nwarc_max_size = "500MB"\ncontact_url = "mailto:ops@example.org"\n'
    )
    s = load_settings(env={"CITEWATCH_DATABASE_URL": "postgresql://u@db/x"}, config_path=cfg)
    assert s.home_path == tmp_path / "h" and s.warc_max_size == 500_000_000
    assert s.effective_database_url == "postgresql://u@db/x"
    assert "mailto:ops@example.org" in s.effective_user_agent


def test_default_home_is_the_xdg_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert load_settings(env={}).home_path == tmp_path / "xdg" / "citewatch"


@pytest.mark.parametrize(
    "env,message",
    [
        ({"CITEWATCH_TIMEOUT": "soon"}, "bad value for timeout"),
        ({"CITEWATCH_ALLOW_PRIVATE_NETWORKS": "maybe"}, "expected true or false"),
        ({"CITEWATCH_WARC_MAX_SIZE": "lots"}, "expected a size"),
        ({"CITEWATCH_HOST_CONCURRENCY": "0"}, "expected 1 or more"),
    ],
)
def test_bad_values_are_one_clear_error(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(env={"CITEWATCH_HOME": str(tmp_path), **env})


def test_unknown_and_broken_config_files(tmp_path: Path) -> None:
    (tmp_path / "citewatch.toml").write_text("no_such_setting = 1\n")
    with pytest.raises(SettingsError, match="unknown setting 'no_such_setting'"):
        load_settings(env={"CITEWATCH_HOME": str(tmp_path)})
    (tmp_path / "citewatch.toml").write_text("timeout = [\n")
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings(env={"CITEWATCH_HOME": str(tmp_path)})
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(env={}, config_path=tmp_path / "missing.toml")


def test_every_setting_is_documented() -> None:
    doc = (ROOT / "docs" / "settings.md").read_text()
    documented = set(re.findall(r"^\| `([a-z0-9_]+)` \|", doc, flags=re.M))
    assert documented == {s.name for s in SETTINGS}
    for s in SETTINGS:
        assert s.env_var in doc, s.env_var


def test_notification_settings_are_checked_when_loaded(tmp_path: Path) -> None:
    from archive import settings
    from archive.changes import classify as changes

    assert settings._KINDS == changes.KINDS  # the settings module keeps its own copy (import time)
    env = {
        "CITEWATCH_HOME": str(tmp_path),
        "CITEWATCH_NOTIFY_WEBHOOKS": "https://hooks.example/a http://127.0.0.1:8080/b",
        "CITEWATCH_NOTIFY_KINDS": "content,gone",
        "CITEWATCH_NOTIFY_ARTICLES": "3 4",
    }
    loaded = load_settings(env=env)
    assert loaded.notify_webhooks == ["https://hooks.example/a", "http://127.0.0.1:8080/b"]
    assert (loaded.notify_kinds, loaded.notify_articles) == (["content", "gone"], [3, 4])
    for name, bad, why in [
        ("NOTIFY_WEBHOOKS", "ftp://x.example/", "not an http(s) URL"),
        ("NOTIFY_WEBHOOKS", "http://[::1", "not an http(s) URL"),
        ("NOTIFY_KINDS", "content,edits", "unknown change kind 'edits'"),
        ("NOTIFY_ARTICLES", "3,x", "expected article ids"),
        ("WORKERS", "0", "expected 1 or more"),
    ]:
        with pytest.raises(SettingsError, match=re.escape(why)):
            load_settings(env={**env, f"CITEWATCH_{name}": bad})


def test_a_crawl_reads_the_one_table_not_copies(tmp_path: Path) -> None:
    """Scrapy's settings carry citewatch's whole (they were copied by hand into 27 ARCHIVE_*
    keys); Scrapy deep-copies its settings, so citewatch's must survive a deep copy."""
    import copy

    from scrapy.settings import Settings as ScrapySettings

    from crawler.recording import SETTINGS_KEY, citewatch_settings
    from crawler.run import scrapy_settings

    ours = load_settings({"requisites_max_age": 42.0}, env={"CITEWATCH_HOME": str(tmp_path)})
    built = scrapy_settings(ours, browser_possible=False)
    assert [k for k in built if k.startswith("ARCHIVE_")] == ["ARCHIVE_ENABLED"]  # a crawl option
    crawl = ScrapySettings(built).copy()  # as Crawler does
    seen = citewatch_settings(crawl)
    assert seen.requisites_max_age == 42.0 and seen.warc_dir == ours.warc_dir
    assert copy.deepcopy(ours).timeout == ours.timeout
    with pytest.raises(RuntimeError, match=SETTINGS_KEY):
        citewatch_settings(ScrapySettings({}))
