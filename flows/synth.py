"""``make synth`` entry point.

The synthesis flow is not implemented yet: the generator (hw/) and the board flows
(flows/) arrive with later work. Until then this command says so and exits non-zero,
so that nobody mistakes it for a finished build.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make synth", description=__doc__)
    parser.add_argument("--board", default="ulx3s-85f")
    parser.add_argument("--model", default="digits")
    args = parser.parse_args(argv)
    print(f"spikegate: synthesis for board {args.board!r}, model {args.model!r} is not "
          "implemented yet (the hardware generator and board flows are still to come).",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
