"""cohere-chat: a Unix-style command-line client for Cohere's Chat API (v2)."""

__version__ = "0.1.0"
PROGRAM = "cohere-chat"
