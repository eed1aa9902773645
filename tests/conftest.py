import os
import pathlib
import shutil
import subprocess

import pytest
from hypothesis import settings

REPO = pathlib.Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample" / "wire_sample.jsonl"
REJECTS = REPO / "data" / "sample" / "wire_sample_rejects.jsonl"


@pytest.fixture
def sample_path() -> pathlib.Path:
    return SAMPLE


# Fuzz depth: the "ci" profile keeps the default run within the CI budget; run
# `pytest --hypothesis-profile=deep` for a long fuzz session (the pipeline-level fuzz scales with it).
settings.register_profile("ci", max_examples=60, deadline=None, print_blob=True)
settings.register_profile("deep", max_examples=2000, deadline=None, print_blob=True)
settings.load_profile("ci")


def _install_chromium() -> None:
    """Debian's chromium, for the HTML report test: installed here when absent (CI starts bare)."""
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*sudo, "apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]
    if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
        subprocess.run([*sudo, "apt-get", "update", "-q"], env=env, capture_output=True, check=False)
        subprocess.run(install, env=env, capture_output=True, check=False)


@pytest.fixture(scope="session")
def chromium() -> str:
    if shutil.which("chromium") is None and shutil.which("apt-get"):
        _install_chromium()
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("headless Chromium is needed for the HTML report test: apt-get install chromium")
    return path
