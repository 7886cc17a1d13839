"""Every option of every command has help text; the generic importer's keys are documented."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from ecomcrm.cli import build_parser, main
from ecomcrm.cli._parser import MAPPING_KEYS
from ecomcrm.io import GENERIC_FIELDS

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def _actions(
    parser: argparse.ArgumentParser, path: tuple[str, ...]
) -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _actions(sub, (*path, name))
        elif not isinstance(action, argparse._HelpAction):
            yield " ".join(path), action


def test_every_option_and_argument_has_help() -> None:
    missing = [
        f"{command} {'/'.join(action.option_strings) or action.dest}"
        for command, action in _actions(build_parser(), ("ecomcrm",))
        if not (action.help or "").strip()
    ]
    assert missing == []


def test_the_help_lists_the_importers_keys_as_the_importer_defines_them() -> None:
    assert {k: tuple(v) for k, v in GENERIC_FIELDS.items()} == MAPPING_KEYS


@pytest.mark.parametrize("command", ["import", "analyze"])
def test_import_help_lists_every_mapping_key(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    for kind, keys in GENERIC_FIELDS.items():
        listed = re.search(rf"^  {kind}: (.*?)\n    needs:", out, re.S | re.M)
        assert listed is not None, kind
        assert [k.strip() for k in listed.group(1).split(",")] == list(keys)


def test_docs_list_every_mapping_key() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for kind, keys in GENERIC_FIELDS.items():
        row = re.search(rf"^\| `{kind}` \| (.*?) \|", text, re.M)
        assert row is not None, kind
        assert re.findall(r"`(\w+)`", row.group(1)) == list(keys)
