"""The command line: --help lists every option with its default; TOML/YAML config files."""
from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline.config import ConfigError, load_config, with_config
from pipeline.options import argument_parser, option_names
from pipeline.run import UsageError, run
from tests.conftest import REPO, SAMPLE


def test_help_lists_every_option_with_its_default():
    completed = subprocess.run([sys.executable, "-m", "pipeline", "--help"], cwd=REPO, capture_output=True,
                               text=True, check=True)
    text = " ".join(completed.stdout.split())
    parser = argument_parser()
    for action in parser._actions:
        if action.dest == "help":
            continue
        assert f"--{action.dest}" in text
        assert "Default" in action.help or "no default" in action.help, action.dest


def test_toml_and_yaml_configs_set_options_and_the_command_line_wins(tmp_path):
    toml = tmp_path / "grouping.toml"
    toml.write_text('[story]\nstory_threshold = 0.25\nhorizon_hours = 24\n[scale]\nmax_bucket_size = 50\n')
    yaml = tmp_path / "grouping.yaml"
    yaml.write_text("story_threshold: 0.25\nhorizon_hours: 24\nmax_bucket_size: 50\n")
    assert load_config(str(toml)) == load_config(str(yaml)) == {
        "story_threshold": 0.25, "horizon_hours": 24, "max_bucket_size": 50,
    }
    argv = with_config(["--config", str(toml), "--horizon_hours", "48"])
    options = argument_parser().parse_known_args(argv)[0]
    assert (options.story_threshold, options.horizon_hours, options.max_bucket_size) == (0.25, 48.0, 50)

    report = run(["--input", str(SAMPLE), "--output", str(tmp_path / "out"), f"--config={yaml}"])
    assert report["options"]["story_threshold"] == 0.25 and report["options"]["max_bucket_size"] == 50


def test_config_errors_are_usage_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("story_treshold = 0.3\n")
    with pytest.raises(ConfigError, match="story_treshold"):
        load_config(str(bad))
    with pytest.raises(UsageError):
        run(["--input", str(SAMPLE), "--output", str(tmp_path / "out"), "--config", str(bad)])
    assert set(option_names()) >= {"config", "quiet", "report_top_stories"}


def test_progress_lines_report_stage_count_and_rate(caplog, monkeypatch):
    from transforms.metrics import PROGRESS_LOGGER, Progress

    monkeypatch.setattr(Progress, "every_s", 0.0)
    progress = Progress("read", "records")
    with caplog.at_level("INFO", logger=PROGRESS_LOGGER.name):
        progress.tick(1000)
        progress.tick(500)
    assert len(caplog.messages) == 1
    assert caplog.messages[0].startswith("progress read: 1,500 records, ") and caplog.messages[0].endswith("/s")
