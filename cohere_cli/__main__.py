"""`python -m cohere_cli` runs the same program as the `cohere-chat` script."""
from cohere_cli.cli import main

if __name__ == "__main__":
    main()
