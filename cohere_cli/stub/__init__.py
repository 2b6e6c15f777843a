"""`cohere-chat stub`: a second program, a local server that speaks the v2 chat wire
format for offline tests. Only the `stub` command (and the tests) import it."""
