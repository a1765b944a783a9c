"""The wheel: one import name, typed, and a fresh virtual environment runs chunkwise from it alone.

The install test builds the wheel, installs it with pip and ``constraints.txt`` into a new virtual
environment (no editable source, no extra step), then from a folder that holds its own
``pipeline.py``, ``connectors.py`` and ``flows.py`` ingests the sample documents (all five formats)
and retrieves from them, with every download blocked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "examples" / "data"
FORMATS = {"md", "txt", "html", "pdf", "docx"}
CONSTRAINTS = str(ROOT / "constraints.txt")
PIP_WHEEL = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]

USER_SCRIPT = """
import json, sys
import chunkwise

report = chunkwise.ingest(sys.argv[1], store=sys.argv[2], collection="samples")
retriever = chunkwise.open_retriever(sys.argv[2], "samples", k=3)
passages = retriever.invoke("How can I find out which package a particular file came from?")
retrievable = {
    kind: len(retriever.invoke("Debian package", filter={"metadata.format": kind}))
    for kind in ("md", "txt", "html", "pdf", "docx")
}
print(json.dumps({
    "version": chunkwise.__version__,
    "module": chunkwise.__file__,
    "report": report.to_dict(),
    "sources": [passage.metadata["source"] for passage in passages],
    "retrievable": retrievable,
}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [*PIP_WHEEL, "--wheel-dir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        text=True,
    )
    [built] = out.glob("chunkwise-*.whl")
    return built


def test_the_wheel_installs_one_top_level_package_with_every_module_and_its_types(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    top_level = {name.split("/")[0] for name in names if ".dist-info/" not in name}
    assert top_level == {"chunkwise"}
    for folder in ("pipeline", "connectors", "flows"):
        for module in (ROOT / folder).rglob("*.py"):
            assert f"chunkwise/{module.relative_to(ROOT).as_posix()}" in names
    assert "chunkwise/py.typed" in names
    [entry_points] = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
    assert "chunkwise = chunkwise.flows.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


@pytest.mark.slow
def test_a_fresh_environment_ingests_all_five_formats_and_retrieves_from_the_wheel_alone(
    wheel: Path, tmp_path: Path
):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-compile", "-c", CONSTRAINTS, str(wheel)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]

    work = tmp_path / "work"
    work.mkdir()
    for name in ("pipeline", "connectors", "flows"):  # a user's own modules of those names
        (work / f"{name}.py").write_text(f"raise ImportError('the user\\'s own {name}.py was imported')\n")
    home = tmp_path / "home"
    home.mkdir()
    blocked = "http://127.0.0.1:9"  # nothing listens there: any download fails at once
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "HTTP_PROXY": blocked,
        "HTTPS_PROXY": blocked,
        "http_proxy": blocked,
        "https_proxy": blocked,
        "NO_PROXY": "",
    }
    run = subprocess.run(
        [str(python), "-c", USER_SCRIPT, str(SAMPLES), str(tmp_path / "store")],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert Path(result["module"]).is_relative_to(venv)
    documents = result["report"]["documents"]
    assert documents["failed"] == 0, result["report"]["errors"]
    assert documents["indexed"] == len(list(SAMPLES.iterdir()))
    assert str(SAMPLES / "debian-faq-pkgtools.html") in result["sources"]
    assert {kind for kind, found in result["retrievable"].items() if found} == FORMATS, result

    version = subprocess.run(
        [str(venv / "bin" / "chunkwise"), "--version"], cwd=work, env=env, capture_output=True, text=True
    )
    assert version.stdout.strip() == f"chunkwise {result['version']}"
