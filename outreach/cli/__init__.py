"""The `outreach` command: thin commands that call services, one module per kind of user.

Exit codes: 0 ok, 1 a problem in the user's files or data, 2 wrong usage.
"""

from __future__ import annotations

import io
import sys

from outreach.cli import authoring, news, operations, outbox  # noqa: F401  # they register
from outreach.cli.common import cli

__all__ = ["cli", "main"]


def main() -> None:
    for stream in (sys.stdout, sys.stderr):  # a terminal that cannot show a name still shows
        if isinstance(stream, io.TextIOWrapper):  # the rest (`\u00fe` for what it cannot)
            stream.reconfigure(errors="backslashreplace")
    cli(prog_name="outreach")
