"""Weights packages with their ROM images: ``make export`` and ``--check``.

The package format is :mod:`model.export`'s; the ROM images in ``mem/`` are the
hardware's layout (:func:`hw.rom.memories`), so the commands that write or verify a
whole package live here, above both.

    python -m hw.package --from build/train/digits --out build/models/digits
    python -m hw.package --check models/digits
"""

from __future__ import annotations

from model import export

from .rom import memories

__all__ = ["write_package", "load_package", "verify_package", "main"]


def write_package(path, cfg, params, **kwargs):
    """:func:`model.export.write_package` with the ROM images of ``par``."""
    return export.write_package(path, cfg, params, memories=memories, **kwargs)


def load_package(path, expect=None, *, verify: bool = False):
    """:func:`model.export.load_package`; ``verify`` also rebuilds the ROM images."""
    return export.load_package(path, expect, verify=verify, memories=memories)


def verify_package(pkg) -> dict:
    return export.verify_package(pkg, memories)


def main(argv=None) -> int:
    return export.main(argv, memories=memories, prog="python -m hw.package")


if __name__ == "__main__":
    from model.cli import run_command
    run_command(main)
