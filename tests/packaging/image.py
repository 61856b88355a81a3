"""What the production image holds, read from the Dockerfile itself: its COPY lines and the
.dockerignore patterns, so a test builds from exactly that and nothing the source tree
happens to have besides."""

from __future__ import annotations

import fnmatch
import shlex
import shutil
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[2]


class UnsupportedDockerfile(ValueError):
    """A Dockerfile instruction these helpers do not model (they would copy the wrong tree)."""


def copies(dockerfile: str) -> list[tuple[list[str], str]]:
    """Each COPY of the build context as (sources, destination), in order."""
    result = []
    for line in _instructions(dockerfile):
        word, _, rest = line.partition(" ")
        if word.upper() == "ADD":
            raise UnsupportedDockerfile(f"ADD is not modelled: {line}")
        if word.upper() != "COPY":
            continue
        args = shlex.split(rest)
        flags = [a for a in args if a.startswith("--")]
        if any(flag.startswith("--from") for flag in flags):
            raise UnsupportedDockerfile(f"COPY from another stage is not modelled: {line}")
        paths = [a for a in args if not a.startswith("--")]
        if len(paths) < 2:
            raise UnsupportedDockerfile(f"COPY needs a source and a destination: {line}")
        result.append((paths[:-1], paths[-1]))
    return result


def _instructions(dockerfile: str) -> list[str]:
    """Lines with continuations joined and comments dropped."""
    joined, current = [], ""
    for raw in dockerfile.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        joined.append(current + line)
        current = ""
    return joined


def ignored(relative: PurePosixPath, patterns: list[str]) -> bool:
    """Whether .dockerignore leaves `relative` (or a directory above it) out of the context.
    fnmatch's `*` also crosses `/`, where Docker's does not: this may leave out more than
    Docker would, never less, so nothing the image lacks can pass for shipped."""
    candidates = [relative, *relative.parents][:-1]  # the path and its parents, not "."
    for pattern in patterns:
        bare = pattern.removeprefix("**/")
        for candidate in candidates:
            text = str(candidate)
            if fnmatch.fnmatchcase(text, pattern):
                return True
            # `**/x` also matches `x` at any depth, the top included
            if pattern.startswith("**/") and fnmatch.fnmatchcase(candidate.name, bare):
                return True
    return False


def dockerignore(context: Path) -> list[str]:
    path = context / ".dockerignore"
    if not path.exists():
        return []
    lines = (line.strip() for line in path.read_text().splitlines())
    patterns = [line.rstrip("/") for line in lines if line and not line.startswith("#")]
    if any(p.startswith("!") for p in patterns):
        raise UnsupportedDockerfile("exceptions (!pattern) in .dockerignore are not modelled")
    return patterns


def assemble(target: Path, context: Path = ROOT) -> Path:
    """Copies into `target` what the Dockerfile's COPY lines put in its WORKDIR."""
    patterns = dockerignore(context)

    def skip(directory: str, names: list[str]) -> list[str]:
        here = PurePosixPath(Path(directory).relative_to(context).as_posix())
        return [n for n in names if ignored(here / n, patterns)]

    for sources, destination in copies((context / "Dockerfile").read_text()):
        into_directory = destination.endswith("/") or len(sources) > 1
        for source in sources:
            origin = context / source
            if ignored(PurePosixPath(source), patterns) or not origin.exists():
                raise FileNotFoundError(f"COPY {source}: not in the build context")
            if origin.is_dir():  # Docker copies a directory's contents, not the directory
                shutil.copytree(origin, target / destination, ignore=skip, dirs_exist_ok=True)
            else:
                where = (
                    target / destination / origin.name if into_directory else target / destination
                )
                where.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, where)
    return target
