"""Cycles per sequence of the generated hardware, from the analytic model.

    python bench/hw_cycles.py --preset tmnist --par 64
    make bench

For each lane count the table shows the mean cycles per sequence over a batch of
random rate-coded inputs (random weights), against two bounds:

* ``ACs/P``: the accumulate operations of the sequence done by one lane of P adders
  with nothing else to do;
* ``ACs/(L*P)``: the same spread over all L lanes, never waiting.

and the bound of ``shared/DESIGN.md`` section 7 on ``--board`` (the larger of the
weight-bandwidth bound, every weight read from all of the device's block RAMs at once,
and the dependency bound, T + N - 1 + layers - 1 cells of the cell's pipeline:
``hw.latency.cycle_bounds``), with the cycles as a multiple of it; and the named overheads: per round ``C`` cycles of neuron pass over the C chunks plus
``hw.latency.round_overhead`` (BEGIN, FETCH, LOAD, the empty event check, DRAIN with the
neuron pipeline, FINISH) and ``WEIGHT_LATENCY - 1`` more when the round has events, per layer 3, and the
readout. "back to back": the mean cycles between results when the batch is sent one
sequence after the other (two input banks, ``hw.latency.stream_schedule``).
The analytic model is the one the simulation tests check cycle for cycle.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from hw.config import HardwareConfig  # noqa: E402
from flows.boards import DEFAULT_BOARD, board  # noqa: E402
from hw.latency import cycle_bounds, cycles_for_batch, round_overhead, stream_schedule  # noqa: E402
from model.config import PRESETS, preset  # noqa: E402
from model.params import random_params  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="tmnist", choices=sorted(PRESETS))
    ap.add_argument("--par", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lanes", type=int, nargs="*", help="lane counts (default: 1 and T)")
    ap.add_argument("--board", default=DEFAULT_BOARD, help="the device of the section 7 bound")
    args = ap.parse_args(argv)
    device = board(args.board)

    cfg = preset(args.preset, encoding="rate")
    params = random_params(cfg, 0)
    x = np.random.default_rng(0).integers(0, 256, (args.batch, cfg.length, cfg.inputs))
    lanes = args.lanes or sorted({1, cfg.steps})
    print(f"preset {args.preset}: M={cfg.inputs} H={cfg.hidden} T={cfg.steps} N={cfg.length}, "
          f"P={args.par}, rate-coded random inputs, batch {args.batch}")
    print(f"{'L':>3} {'rounds':>6} {'cycles':>9} {'ACs/P':>9} {'ratio':>6} {'ACs/(L*P)':>10} "
          f"{'ratio':>6} {'bound':>7} {'ratio':>6} {'round overhead':>15} {'events/round':>13} "
          f"{'back to back':>13}")
    for lane_count in lanes:
        hw = HardwareConfig(cfg, lanes=lane_count, par=args.par)
        figures, res = cycles_for_batch(hw, params, x)
        cycles = np.mean([f["total"] for f in figures])
        acs = (res.stats["acs"] - res.stats["readout_acs"]) / args.batch
        rounds = figures[0]["rounds"]
        chunks = hw.chunks(0)
        overhead = rounds * (chunks + round_overhead(hw)) * cfg.layers
        events = np.mean([sum(lc.events for lc in f["layers"]) for f in figures]) / (rounds * cfg.layers)
        one = acs / args.par
        spread = acs / (args.par * lane_count)
        bound = cycle_bounds(hw, res.stats, device.weights_per_cycle(cfg.w_bits))
        # the batch sent back to back: mean cycles between results (two input banks)
        period = np.mean(stream_schedule(hw, [f["total"] for f in figures], 0)["period"] or [np.nan])
        print(f"{lane_count:>3} {rounds:>6} {cycles:>9.0f} {one:>9.0f} {cycles / one:>6.2f} "
              f"{spread:>10.0f} {cycles / spread:>6.2f} {bound['bound']:>7.0f} "
              f"{cycles / bound['bound']:>6.1f} {overhead:>15.0f} {events:>13.1f} {period:>13.0f}")
    print(f"bound on {device.name} ({device.device}): {bound['weights_per_cycle']:.0f} weights of "
          f"{cfg.w_bits} bits per cycle from {device.capacity['BRAM']} block RAMs; "
          f"{bound['weight_reads']:,.0f} weight reads per sequence -> {bound['bandwidth']:,.0f} cycles; "
          f"dependency {bound['chain_cells']} cells x {bound['dependency'] // bound['chain_cells']} "
          f"stages = {bound['dependency']} cycles; limited by the {bound['limited_by']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
