"""Benchmark: how long `nextup --help` takes to start, against the bare interpreter, and
which heavy libraries it imports on the way.

    .venv/bin/python bench/startup.py [--runs 5]

Each command runs `--runs` times as a subprocess of this environment's interpreter; the
median wall time of each is printed, and the median CPU time (user and system), which
depends much less on what else the machine runs. The libraries are read from `python -X importtime`
running `main(["--help"])`: every one of them imported, with the time its import took
(cumulative, so what it imported in turn is included). The figures depend on what else
the machine runs: the load average is printed with them.

Results are printed and written to bench/results/startup-latest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PYTHON = sys.executable
NEXTUP = str(Path(PYTHON).with_name("nextup"))
HEAVY = ("aiogram", "twilio", "matplotlib", "sanic", "tortoise", "pydantic", "redis")
"""Libraries that take a noticeable share of a second to import; the first three are
never needed by `--help` (tests/test_cli.py checks it)."""
HELP = "from nextup.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"


def median_s(command: list[str], runs: int) -> tuple[float, float]:
    """The median wall time and CPU time of `command`, in seconds."""
    wall, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True, timeout=120)
        wall.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(wall), statistics.median(cpu)


def heavy_imports_ms() -> dict[str, float]:
    """Each heavy library `--help` imported, with its cumulative import time."""
    done = subprocess.run(
        [PYTHON, "-X", "importtime", "-c", HELP],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    imported = {}
    for line in done.stderr.splitlines():
        # import time: self [us] | cumulative | imported package
        fields = line.removeprefix("import time:").split("|")
        if len(fields) == 3 and fields[2].strip() in HEAVY:
            imported[fields[2].strip()] = int(fields[1]) / 1000
    return imported


def main(runs: int) -> None:
    load_1min = os.getloadavg()[0]
    bare_s, bare_cpu_s = median_s([PYTHON, "-c", "pass"], runs)
    help_s, help_cpu_s = median_s([NEXTUP, "--help"], runs)
    heavy = heavy_imports_ms()
    print(f"load average (1 min): {load_1min:.2f} on {os.cpu_count()} CPUs")
    print(f"medians of {runs} runs:    wall      CPU")
    print(f"python -c pass: {bare_s * 1000:7.0f} ms {bare_cpu_s * 1000:5.0f} ms")
    print(f"nextup --help:  {help_s * 1000:7.0f} ms {help_cpu_s * 1000:5.0f} ms")
    print("heavy libraries imported by --help:", end="")
    print("".join(f"\n  {name:<12} {ms:7.0f} ms" for name, ms in heavy.items()) or " none")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "startup-latest.json").write_text(
        json.dumps(
            {
                "load_average_1min": load_1min,
                "runs": runs,
                "python_pass_s": bare_s,
                "python_pass_cpu_s": bare_cpu_s,
                "nextup_help_s": help_s,
                "nextup_help_cpu_s": help_cpu_s,
                "heavy_imports_ms": heavy,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    main(parser.parse_args().runs)
