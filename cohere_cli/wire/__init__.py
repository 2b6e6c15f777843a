"""The wire: HTTP to the API (retries, timeouts, TLS), Server-Sent Events, and the chat
stream's events rebuilt into a response. It imports nothing from the core."""
