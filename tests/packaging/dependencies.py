"""The installed distributions `nextup` needs to run (its dependencies without extras, and
theirs), laid out as one directory of links: a new virtual environment that gets this
directory and the wheel has what `pip install nextup` would give it, and nothing from the
development tools (pytest, httpx, Playwright, matplotlib…)."""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement


def _key(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def runtime_closure(root: str = "nextup") -> set[str]:
    """Names of the distributions `root` requires, recursively, with the extras asked for."""
    extras_of: dict[str, set[str]] = {}
    todo: list[tuple[str, frozenset[str]]] = [(root, frozenset())]
    while todo:
        name, extras = todo.pop()
        key = _key(name)
        if key in extras_of and extras <= extras_of[key]:
            continue
        wanted = extras_of.setdefault(key, set())
        wanted |= extras
        for line in metadata.distribution(name).requires or []:
            requirement = Requirement(line)
            contexts = [{"extra": extra} for extra in wanted or {""}]
            if requirement.marker and not any(requirement.marker.evaluate(c) for c in contexts):
                continue
            todo.append((requirement.name, frozenset(requirement.extras)))
    return extras_of.keys() - {_key(root)}


def link_site(target: Path, distributions: set[str]) -> Path:
    """`target` with a link to every top-level module, package and .dist-info directory of
    `distributions` (as installed in this environment)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in distributions:
        distribution = metadata.distribution(name)
        for file in distribution.files or []:
            top = file.parts[0]
            if top in ("..", "__pycache__") or top.endswith(".pth"):
                continue  # scripts in bin/, and nothing that would run at start-up
            link = target / top
            if not link.exists():
                os.symlink(Path(str(distribution.locate_file(top))), link)
    return target
