"""Meshsmith: ``python main.py`` opens the studio; ``python main.py run|adapters|history|models|
serve|...`` is the CLI (``serve``: the HTTP API, app.server)."""

from __future__ import annotations

import sys

CLI_COMMANDS = {"run", "resume", "adapters", "history", "models", "export", "pipeline", "recipes", "serve",
                "-h", "--help"}


def main(argv: list[str]) -> int:
    if argv and argv[0] in CLI_COMMANDS:
        from app.cli import main as cli_main

        return cli_main(argv)
    from app.studio import main as studio_main

    return studio_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
