"""The package as it is shipped: the wheel built from exactly what the Dockerfile copies,
installed into a new virtual environment, run from a directory outside the source tree.

Nothing is downloaded. The new environment gets the wheel alone (`--no-deps`), and a .pth
line naming a directory of links to the distributions the wheel declares it needs (its
dependencies without extras, recursively, as installed in this environment). So `core`,
`web`, `sim`… can only come from the wheel, and a module the server imports from a
development tool (pytest, httpx, matplotlib…) is missing there as it would be in the image.

Pure packaging: `make test` runs it in the embedded half only.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from setuptools import find_packages

from tests.packaging.dependencies import link_site, runtime_closure
from tests.packaging.image import ROOT, assemble, copies
from tests.processes import clean_env, free_port

PACKAGES_FIND = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
    "packages"
]["find"]
TOP_LEVEL = sorted({p.split(".")[0] for p in find_packages(ROOT, include=PACKAGES_FIND["include"])})


@dataclass(frozen=True)
class Installed:
    image: Path  # what the Dockerfile's COPY lines put in /app
    wheel: Path
    venv: Path

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"{' '.join(args)}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def outside_env(**settings: str) -> dict[str, str]:
    """No NEXTUP_* or PYTHONPATH from this process: the installed command stands alone."""
    env = clean_env(**settings)
    env.pop("PYTHONPATH", None)
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("package")
    image = assemble(base / "app")
    dist = base / "dist"
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--no-deps",
        "--no-index",
        "--no-build-isolation",  # this environment's setuptools: nothing to download
        "--wheel-dir",
        str(dist),
        str(image),
        cwd=base,
    )
    (wheel,) = dist.glob("nextup-*.whl")
    venv = base / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", str(venv), cwd=base)
    python = venv / "bin" / "python"
    run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(python),
        "install",
        "--quiet",
        "--no-deps",
        "--no-index",
        str(wheel),
        cwd=base,
    )
    site = Path(
        run(
            str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=base
        ).strip()
    )
    dependencies = link_site(base / "dependencies", runtime_closure())
    (site / "_nextup_dependencies.pth").write_text(f"{dependencies}\n")
    return Installed(image, wheel, venv)


def test_the_dockerfile_copies_every_package() -> None:
    copied = {
        s.rstrip("/") for sources, _ in copies((ROOT / "Dockerfile").read_text()) for s in sources
    }
    assert set(TOP_LEVEL) <= copied, f"the Dockerfile does not copy {set(TOP_LEVEL) - copied}"
    assert {"pyproject.toml", "README.md"} <= copied


def test_the_wheel_ships_every_file_of_its_packages(installed: Installed) -> None:
    """Templates, static files, message catalogues, profiles: all of them, whatever their
    directory, or an installed server is missing pages the source tree serves."""
    shipped = set(zipfile.ZipFile(installed.wheel).namelist())
    wanted = {
        path.relative_to(installed.image).as_posix()
        for package in TOP_LEVEL
        for path in (installed.image / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert wanted, "nothing was copied"
    assert not wanted - shipped, sorted(wanted - shipped)


def test_the_code_runs_from_the_wheel(installed: Installed, tmp_path: Path) -> None:
    where = run(
        installed.bin("python"),
        "-c",
        "import importlib; print('\\n'.join(importlib.import_module(m).__file__ for m in "
        f"{TOP_LEVEL!r}))",
        cwd=tmp_path,
        env=outside_env(),
    )
    for module_file in where.split():
        assert Path(module_file).is_relative_to(installed.venv), module_file


def test_development_tools_are_not_installed_there(installed: Installed, tmp_path: Path) -> None:
    """The environment is honest about what `pip install nextup` brings: no test tools."""
    for tool in ("pytest", "httpx", "playwright", "matplotlib"):
        found = run(
            installed.bin("python"),
            "-c",
            f"import importlib.util; print(importlib.util.find_spec({tool!r}) is not None)",
            cwd=tmp_path,
            env=outside_env(),
        )
        assert found.strip() == "False", tool


@dataclass
class Serving:
    base_url: str
    token: str  # the demo admin's API token
    process: subprocess.Popen[bytes]
    log: Path


@pytest.fixture
def serving(installed: Installed, tmp_path: Path) -> Iterator[Serving]:
    """`nextup migrate`, `nextup demo` and `nextup serve` as installed, in an empty directory
    with its own SQLite file."""
    env = outside_env(database_url=f"sqlite://{tmp_path / 'nextup.sqlite3'}")
    run(installed.bin("nextup"), "migrate", cwd=tmp_path, env=env)
    demo = run(installed.bin("nextup"), "demo", cwd=tmp_path, env=env)
    token = re.search(r"nxt_\S+", demo)
    assert token, demo
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [installed.bin("nextup"), "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_until_healthy(base_url, process, log)
        yield Serving(base_url, token.group(), process, log)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)


def wait_until_healthy(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60  # a loaded CI machine starts Python slowly
    while time.monotonic() < deadline:
        assert process.poll() is None, f"serve exited:\n{log.read_text()}"
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"no /healthz within 60 s:\n{log.read_text()}")


def html(response: httpx.Response) -> str:
    assert response.status_code == 200, (response.request.url, response.text[:500])
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def test_the_installed_server_serves_every_page_and_a_visit(serving: Serving) -> None:
    with httpx.Client(base_url=serving.base_url, timeout=10) as client:
        assert client.get("/healthz").status_code == 200
        login = html(client.get("/console/login"))
        assert 'name="password"' in login
        assets = set(re.findall(r"""(?:src|href)="(/static/[^"?]+)""", login))
        assert assets, "the login page links no static file"
        for asset in assets:
            assert client.get(asset).status_code == 200, asset
        html(client.get("/display/PHARM"))
        html(client.get("/q/PHARM/poster"))

        # A patient joins from the poster's form and lands on their ticket page.
        form = html(client.get("/q/PHARM/join"))
        form_token = re.search(r'name="form_token" value="([^"]+)"', form)
        assert form_token, form
        joined = client.post(
            "/q/PHARM/join", data={"form_token": form_token.group(1), "name": "Wheel"}
        )
        assert joined.status_code == 303, joined.text
        assert joined.headers["location"].startswith("/t/"), joined.headers
        html(client.get(joined.headers["location"]))
        staff = {"Authorization": f"Bearer {serving.token}"}
        called = client.post("/api/v1/queues/PHARM/call-next", json={"counter": "1"}, headers=staff)
        assert called.status_code == 200, called.text
        assert called.json()["status"] == "called"

    serving.process.send_signal(signal.SIGTERM)
    try:
        assert serving.process.wait(timeout=15) == 0, serving.log.read_text()
    except subprocess.TimeoutExpired:
        pytest.fail(f"serve still running 15 s after SIGTERM:\n{serving.log.read_text()}")
    assert "Traceback" not in serving.log.read_text(), serving.log.read_text()
