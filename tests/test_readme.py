"""The README and the other documents say only what is true of this repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from core.settings import Settings
from nextup.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = sorted(
    [ROOT / "README.md", ROOT / "DEVELOPERS.md", ROOT / "CHANGES.md", *(ROOT / "docs").glob("*.md")]
)
README = (ROOT / "README.md").read_text()


def tracked_top_level() -> set[str]:
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return {f.split("/")[0] for f in files}


def mentioned_paths(document: Path) -> set[str]:
    """Markdown link targets that are not URLs, and `code` spans that name a file or
    directory of the repository (`core/domain/`, `docs/api.md`) or one above it."""
    text = document.read_text()
    links = {t for t in re.findall(r"\]\(([^)#\s]+)", text) if "://" not in t}
    top = tracked_top_level()
    spans = {
        span
        for span in re.findall(r"`([\w./-]+)`", text)
        if "/" in span and (span.split("/")[0] in top or span.startswith(".."))
    }
    return links | spans


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_every_path_mentioned_is_in_the_repository(document: Path) -> None:
    for path in mentioned_paths(document):
        assert not path.startswith(".."), f"{document.name} points outside the repository: {path}"
        assert (document.parent / path).exists() or (ROOT / path).exists(), (document.name, path)


def test_every_setting_is_in_the_readme() -> None:
    missing = [n for n in Settings.model_fields if f"`NEXTUP_{n.upper()}`" not in README]
    assert not missing, missing


def test_every_command_is_in_the_readme() -> None:
    block = README.split("## Command line", 1)[1].split("```", 2)[1]
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    missing = [c for c in commands if not re.search(rf"^nextup {c}\b", block, re.MULTILINE)]
    assert not missing, missing


def test_the_readme_says_nothing_is_missing_that_is_here() -> None:
    assert "not built yet" not in README.lower()


def test_every_make_target_mentioned_is_in_the_makefile() -> None:
    targets = set(re.findall(r"^([\w.-]+):", (ROOT / "Makefile").read_text(), re.MULTILINE))
    for document in DOCUMENTS:
        mentioned = set(re.findall(r"`make ([\w-]+)", document.read_text()))
        assert mentioned <= targets, (document.name, mentioned - targets)
