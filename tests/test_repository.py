"""The README, .ci/run, CHANGELOG and the settings model tell one story."""

from __future__ import annotations

import re
from pathlib import Path

from foxtrot_binance.settings import CONNECT_KEYS, BinanceSettings, RetrySettings, field_env_name

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _fenced_bash_blocks(text: str) -> list[str]:
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", text, re.S)]


def test_ci_runs_exactly_the_readme_install_and_test_commands():
    install, test = _fenced_bash_blocks(README)[:2]
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    commands = [line for line in ci_lines if line and not line.startswith("#")]
    assert commands[-2:] == [install, test]


def test_readme_configuration_table_lists_every_setting():
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `([a-z_.]+)` \|.*$", README, re.M)}
    expected = {}
    for name, field in BinanceSettings.model_fields.items():
        if name == "retry":
            for sub, subfield in RetrySettings.model_fields.items():
                expected[f"retry.{sub}"] = (field_env_name(("retry", sub)), subfield.default)
        else:
            expected[name] = (field_env_name((name,)), field.default)
    assert set(rows) == set(expected)
    for path, (env_name, default) in expected.items():
        assert f"`{env_name}`" in rows[path]
        assert ("none" if default is None else f"`{default}`") in rows[path]
    for dialog_key, path in CONNECT_KEYS.items():
        assert f"`{dialog_key}`" in rows[path]


def test_changelog_follows_keep_a_changelog():
    text = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in text and "keepachangelog.com" in text
