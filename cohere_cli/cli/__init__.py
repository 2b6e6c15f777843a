"""The click face: commands and their options, rendering, and the one place where errors
become exit statuses. Only this package imports click."""
from cohere_cli.cli.app import cli

__all__ = ["cli"]
