import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample" / "wire_sample.jsonl"
REJECTS = REPO / "data" / "sample" / "wire_sample_rejects.jsonl"


@pytest.fixture
def sample_path() -> pathlib.Path:
    return SAMPLE
