"""A sweep on a Dask LocalCluster started here: the --scheduler path of make sweep,
measured on one machine.

    python bench/sweep_cluster.py --workers 2 -- --model tiny --lanes 1,2 --par 4,8,16 --seeds 1,2

Starts a ``distributed.LocalCluster`` of ``--workers`` single-threaded worker
processes, runs ``python -m flows.sweep`` with the arguments after ``--`` and
``--scheduler`` set to the cluster, and prints the wall time. Compare it with the same
sweep on the local process pool (``--jobs``): the points and their figures are the same;
the cluster adds its start and the transfer of each point's figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    own, rest = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(own)
    from distributed import LocalCluster

    from flows import sweep
    t0 = time.monotonic()
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        started = time.monotonic() - t0
        print(f"LocalCluster: {args.workers} workers at {cluster.scheduler_address} ({started:.1f} s)", flush=True)
        status = sweep.main(rest + ["--scheduler", cluster.scheduler_address])
    print(f"wall time with the cluster's start and stop: {time.monotonic() - t0:.0f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
