"""`config --check`: the pre-flight's lines on stderr (chat/preflight.py), from the
settings the flags make; its exit status is that of the first check that fails."""
from __future__ import annotations

from typing import TYPE_CHECKING

from cohere_cli.cli.from_flags import connection_of, logger, settings_of

if TYPE_CHECKING:
    from cohere_cli.cli.console import Console
    from cohere_cli.cli.options import ConnectionFlags
    from cohere_cli.settings.config import ConfigFlags


def run_check(flags: ConfigFlags, transport: ConnectionFlags, console: Console) -> int:
    """Check the base URL, the key and the model; 0 when every check passes."""
    from urllib.parse import urlsplit

    from cohere_cli.chat.preflight import preflight
    from cohere_cli.wire.api_client import ApiClient

    settings = settings_of(flags, console, with_preset=True)
    parts = urlsplit(settings.base_url)
    shown = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()  # no user:pass
    where = f"{shown} ({settings.sources.get('base_url', 'built-in default')})"
    with ApiClient(connection_of(settings, transport),
                   logger(console, transport.verbose)) as client:
        preflight(client, settings.model, settings.access.auth,
                  lambda line: console.note(f"check: {line}"), where=where,
                  key_source=settings.sources.get("api_key", "not set"))
    return 0
