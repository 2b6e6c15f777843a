"""Where the config file is looked for, as text: light on purpose (os only), for
`--help`, whose ending names it (config.py's `config_path` is the same as a Path)."""
from __future__ import annotations

import os
from collections.abc import Mapping


def config_file(environ: Mapping[str, str]) -> str | None:
    """Where the config file is looked for; None when there is no home to look in."""
    if environ.get("COHERE_CHAT_CONFIG"):
        return environ["COHERE_CHAT_CONFIG"]
    if environ.get("XDG_CONFIG_HOME"):
        return os.path.join(environ["XDG_CONFIG_HOME"], "cohere-chat", "config.ini")
    if environ.get("HOME"):
        return os.path.join(environ["HOME"], ".config", "cohere-chat", "config.ini")
    return None
