"""Argument types the command lines share: a bad number is refused by argparse with one
line naming the option (exit status 2), before any work starts."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

__all__ = ["positive_int", "positive_float", "OutputError", "check_writable"]


class OutputError(ValueError):
    """An output folder that cannot be written; raised before the work starts."""


def positive_int(text: str) -> int:
    """An integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """A finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a number above 0, got {text}")
    return value


def check_writable(folder: str | os.PathLike, what: str) -> None:
    """Refuse, before any work, a ``folder`` that files cannot be created in (or, if it
    does not exist yet, whose nearest existing parent cannot take it). The test is a
    real one (a temporary folder made and removed there), since permission bits do not
    tell: root ignores them, a read-only mount does not show in them. ``what`` names
    the option, e.g. ``"--out build/x"``."""
    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{what}: {existing} is a file, not a folder")
    try:
        tempfile.TemporaryDirectory(dir=existing, prefix=".spikegate-write-test.").cleanup()
    except OSError as err:
        raise OutputError(f"{what}: cannot write in {existing} ({err.strerror or err})") from None
