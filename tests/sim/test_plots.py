"""The simulator's plots: three figures in PNG and SVG, readable, and the same bytes for the
same run."""

from __future__ import annotations

import importlib
import struct
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from sim.engine import DayResult
from sim.plots import line_on_grid, mean_line_on_grid, write_plots
from sim.profile import Profile, load_profile
from sim.run import Run, simulate

FIGURES = ("waits", "eta", "queue_length")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def pharmacy() -> Profile:
    return load_profile("pharmacy")


@pytest.fixture(scope="module")
def results(pharmacy: Profile) -> dict[str, list[DayResult]]:
    return simulate(Run(pharmacy, days=1, seed=3))


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which follows the signature."""
    width, height = struct.unpack(">II", path.read_bytes()[16:24])
    return width, height


def test_writes_each_figure_in_png_and_svg(
    results: dict[str, list[DayResult]], pharmacy: Profile, tmp_path: Path
) -> None:
    out_dir = tmp_path / "plots" / "nested"
    written = write_plots(results, pharmacy, out_dir)
    expected = [out_dir / f"{name}.{fmt}" for name in FIGURES for fmt in ("png", "svg")]
    assert written == expected
    assert sorted(out_dir.iterdir()) == sorted(expected)
    for name in FIGURES:
        png = out_dir / f"{name}.png"
        assert png.read_bytes().startswith(PNG_SIGNATURE)
        assert 10_000 < png.stat().st_size < 1_000_000
        width, height = png_size(png)
        assert 600 <= width <= 2000 and 600 <= height <= 2000


def test_svgs_are_xml_naming_the_policies_and_the_profile(
    results: dict[str, list[DayResult]], pharmacy: Profile, tmp_path: Path
) -> None:
    write_plots(results, pharmacy, tmp_path, formats=("svg",))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.svg" for n in FIGURES)
    for name in FIGURES:
        root = ET.parse(tmp_path / f"{name}.svg").getroot()
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        text = " ".join(root.itertext())
        assert "pharmacy" in text
        policies = ("fifo",) if name == "eta" else ("fifo", "dynamic", "short_first")
        for policy in policies:
            assert policy in text, (name, policy)


def test_legends_and_titles_carry_the_figures(
    results: dict[str, list[DayResult]], pharmacy: Profile, tmp_path: Path
) -> None:
    write_plots(results, pharmacy, tmp_path, formats=("svg",))
    waits = " ".join(ET.parse(tmp_path / "waits.svg").getroot().itertext())
    assert waits.count("mean ") >= 3 and waits.count("p90 ") >= 3
    eta = " ".join(ET.parse(tmp_path / "eta.svg").getroot().itertext())
    assert "forecast" in eta and "naive" in eta and "MAE" in eta


def test_writing_twice_gives_the_same_bytes(
    results: dict[str, list[DayResult]], pharmacy: Profile, tmp_path: Path
) -> None:
    first = write_plots(results, pharmacy, tmp_path / "first")
    second = write_plots(results, pharmacy, tmp_path / "second")
    for one, other in zip(first, second, strict=True):
        assert one.read_bytes() == other.read_bytes(), one.name


def test_a_single_policy_without_etas_still_plots(pharmacy: Profile, tmp_path: Path) -> None:
    quick = simulate(Run(pharmacy, policies=("dynamic",), days=1, seed=4, detailed=False))
    write_plots(quick, pharmacy, tmp_path, formats=("svg",))
    eta = " ".join(ET.parse(tmp_path / "eta.svg").getroot().itertext())
    assert "dynamic" in eta and "no ETAs recorded" in eta


def test_an_unknown_format_is_refused_before_writing(
    results: dict[str, list[DayResult]], pharmacy: Profile, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="'jpg'"):
        write_plots(results, pharmacy, tmp_path / "out", formats=("png", "jpg"))
    with pytest.raises(ValueError, match="png or svg"):
        write_plots(results, pharmacy, tmp_path / "out", formats=())
    assert not (tmp_path / "out").exists()


def test_without_matplotlib_the_module_imports_and_the_call_says_what_to_install(
    results: dict[str, list[DayResult]],
    pharmacy: Profile,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    monkeypatch.delitem(sys.modules, "sim.plots")
    plots = importlib.import_module("sim.plots")
    with pytest.raises(RuntimeError, match=r"pip install 'nextup\[plots\]'"):
        plots.write_plots(results, pharmacy, tmp_path)
    assert not any(tmp_path.iterdir())


# -- the 5-minute grid of the queue-length plot -------------------------------------------------


def test_the_grid_takes_the_value_in_force_at_each_point() -> None:
    line = [(100.0, 1), (400.0, 3), (400.0, 2), (650.0, 0), (900.0, 4)]
    # points:           0  300  600  900  1200
    assert line_on_grid(line, 0, 1200) == [0, 1, 2, 4, 4]


def test_the_grid_counts_a_change_exactly_on_a_point_and_stops_at_the_end() -> None:
    line = [(300.0, 5), (610.0, 1)]
    assert line_on_grid(line, 300, 1000) == [5, 5, 1]
    assert line_on_grid(line, 0, 299) == [0]
    assert line_on_grid([], 0, 600) == [0, 0, 0]
    assert line_on_grid(line, 0, 600, step_s=600) == [0, 5]


def test_the_grid_refuses_a_step_of_zero() -> None:
    with pytest.raises(ValueError, match="step_s"):
        line_on_grid([(0.0, 1)], 0, 600, step_s=0)


def test_the_mean_line_averages_the_days_point_by_point() -> None:
    lines = [[(0.0, 2), (600.0, 0)], [(300.0, 3)]]
    assert mean_line_on_grid(lines, 0, 900) == [1.0, 2.5, 1.5, 1.5]
    assert mean_line_on_grid([], 0, 900) == []
