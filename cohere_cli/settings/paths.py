"""Where the program's files are: the config file, looked for as text, light on purpose
(os only), for `--help`, whose ending names it (config.py's `config_path` is the same as
a Path); and the cache folder (base/cache.py), with the kind of entry a send looks for."""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

CACHE_FOLDER = "cohere-chat"
MODEL_DETAILS = "models"  # the cache's kind (its folder) of models' details


def config_file(environ: Mapping[str, str]) -> str | None:
    """Where the config file is looked for; None when there is no home to look in."""
    if environ.get("COHERE_CHAT_CONFIG"):
        return environ["COHERE_CHAT_CONFIG"]
    if environ.get("XDG_CONFIG_HOME"):
        return os.path.join(environ["XDG_CONFIG_HOME"], "cohere-chat", "config.ini")
    if environ.get("HOME"):
        return os.path.join(environ["HOME"], ".config", "cohere-chat", "config.ini")
    return None


def cache_folder(environ: Mapping[str, str]) -> Path | None:
    """Where the cache lives: $XDG_CACHE_HOME/cohere-chat (an absolute path, as the XDG
    rules ask), else ~/.cache/cohere-chat; None without either."""
    from pathlib import Path

    xdg = environ.get("XDG_CACHE_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / CACHE_FOLDER
    if environ.get("HOME"):
        return Path(environ["HOME"]) / ".cache" / CACHE_FOLDER
    return None


def holds_model_details(environ: Mapping[str, str]) -> bool:
    """Whether the cache may hold a model's details: its folder of them exists (a stat:
    never an open, so never a wait; one that cannot be looked at holds none)."""
    folder = cache_folder(environ)
    return folder is not None and os.path.isdir(folder / MODEL_DETAILS)
