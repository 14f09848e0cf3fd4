"""Throughput of the integer golden model (sequences per second).

    make bench                     # preset tmnist, both evaluation orders
    python bench/golden.py --preset digits --batch 512 --repeat 5

Inputs are random rate-coded features (uniform 8-bit), weights are the deterministic
random parameters of ``model.params.random_params``. The figure printed is the best of
``--repeat`` timed runs of one batch, after one warm-up run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from model import golden  # noqa: E402
from model.config import PRESETS, preset  # noqa: E402
from model.params import random_params  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="tmnist", choices=sorted(PRESETS))
    ap.add_argument("--encoding", default="rate", choices=["rate", "spikes", "level", "direct"])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)

    cfg = preset(args.preset, encoding=args.encoding)
    params = random_params(cfg, 0)
    rng = np.random.default_rng(0)
    if cfg.encoding == "spikes":
        x = rng.integers(-1, 2, (args.batch, cfg.length, cfg.steps, cfg.inputs))
    elif cfg.encoding == "direct":
        x = rng.integers(-128, 128, (args.batch, cfg.length, cfg.inputs))
    else:
        x = rng.integers(0, 256, (args.batch, cfg.length, cfg.inputs))

    print(f"golden model, preset {args.preset} (M={cfg.inputs}, H={cfg.hidden}, T={cfg.steps}, "
          f"N={cfg.length}), encoding {cfg.encoding}, batch {args.batch}, "
          f"{os.cpu_count()} CPUs")
    for order in ("wavefront", "element"):
        golden.run(cfg, params, x[:2], order=order)  # warm-up
        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            res = golden.run(cfg, params, x, order=order)
            best = min(best, time.perf_counter() - t0)
        layer = res.stats["layers"][0]
        cells = args.batch * cfg.length * cfg.steps * cfg.hidden[0]
        print(f"  order {order:9s}: {args.batch / best:8.1f} sequences/s "
              f"({best * 1e3:.0f} ms per batch; h spike rate {layer['h_spikes'] / cells:.3f}, "
              f"{res.stats['acs'] / args.batch:.0f} ACs per sequence)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
