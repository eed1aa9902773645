"""Optional TOML/YAML config files: `--config FILE` becomes flags in front of the command line.

An option given on the command line overrides the file's value (for repeatable options such as
`input`, the whole list). Keys are option names (`story_threshold = 0.3`); tables or sections
only group them and are flattened. Unknown keys are an error, not silently ignored.
"""
from __future__ import annotations

import pathlib
import tomllib
from collections.abc import Mapping
from typing import Any

import yaml

from pipeline.options import option_names


class ConfigError(ValueError):
    pass


def _config_path(argv: list[str]) -> str | None:
    for index, arg in enumerate(argv):
        if arg == "--config" and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
    return None


def load_config(path: str) -> dict[str, Any]:
    """The file's options as a flat {name: value}; tables/sections are flattened one level deep."""
    text = pathlib.Path(path).read_text(encoding="utf-8")
    try:
        if path.endswith(".toml"):
            data = tomllib.loads(text)
        elif path.endswith((".yaml", ".yml")):
            data = yaml.safe_load(text) or {}
        else:
            raise ConfigError(f"{path}: config files must end in .toml, .yaml or .yml")
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: {err}") from err
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a table of options")
    flat: dict[str, Any] = {}
    for key, value in data.items():
        items = value.items() if isinstance(value, Mapping) else [(key, value)]
        for name, option in items:
            if name in flat:
                raise ConfigError(f"{path}: {name} is set twice")
            flat[name] = option
    known = set(option_names()) - {"config"}
    unknown = sorted(set(flat) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown option(s) {', '.join(unknown)}")
    return flat


def _as_flags(name: str, value: Any) -> list[str]:
    if isinstance(value, bool):
        if name != "quiet":
            raise ConfigError(f"{name}: expected a value, got a boolean")
        return [f"--{name}"] if value else []
    if isinstance(value, list):
        return [f"--{name}={item}" for item in value]
    return [f"--{name}={value}"]


def with_config(argv: list[str]) -> list[str]:
    """argv with the `--config` file's options expanded in front of it (argv wins on conflicts)."""
    path = _config_path(argv)
    if path is None:
        return list(argv)
    given = {arg[2:].split("=", 1)[0] for arg in argv if arg.startswith("--")}
    flags = [
        flag for name, value in load_config(path).items() if name not in given for flag in _as_flags(name, value)
    ]
    return flags + list(argv)
