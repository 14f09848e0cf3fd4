"""NIR interchange with ROM images: :mod:`model.nir`'s commands, with the packages an
import writes completed by the hardware's memory images (:func:`hw.rom.memories`), as
:mod:`hw.package` completes :mod:`model.export`'s.

    python -m hw.nir import other.nir --out build/models/other --set length=20
    python -m hw.nir export build/models/other --out build/other.nir
"""

from __future__ import annotations

from model import nir

from .rom import memories

__all__ = ["main"]


def main(argv=None) -> int:
    return nir.main(argv, memories=memories, prog="python -m hw.nir")


if __name__ == "__main__":
    from model.cli import run_command
    run_command(main)
