"""Secrets for the command line come from standard input or a hidden prompt, never from argv.

Arguments are readable by every user of the machine (`ps`, /proc/<pid>/cmdline) and land in shell
history, so a secret typed there is refused with the way to pass it instead.
"""
from __future__ import annotations

import sys

import click

STDIN = "-"


def refuse_argv_secret(what: str, example: str) -> None:
    raise click.UsageError(
        f"{what} was given on the command line, where other users of this machine can read it "
        f"(ps, /proc/<pid>/cmdline, shell history); nothing was stored. This command reads the secret "
        f"from standard input: {example}"
    )


def read_secret(prompt: str, whole_input: bool = False) -> str:
    """A hidden prompt on a terminal; otherwise standard input (all of it for a PEM key, else one line)."""
    if sys.stdin is not None and sys.stdin.isatty():
        return click.prompt(prompt, hide_input=True).strip()
    text = sys.stdin.read() if whole_input else sys.stdin.readline()
    return text.strip()
