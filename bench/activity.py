"""Activity counting in Verilator against the Amaranth simulator: agreement and speed.

    python bench/activity.py --model digits --sequences 8
    python bench/activity.py --model tmnist --lanes 1 --sequences 2 --amaranth-sequences 0

For one model (a weights package, or a preset with random weights) both counters run
on the same test sequences (``model.export.sample_inputs``): :mod:`flows.verilator_activity`
(the default of ``make synth``) and :mod:`flows.activity` (the Amaranth simulator, the
cross-check). The table gives their wall times, simulated cycles per second, the toggles
per category and the activity energy (b) each gives at ``--mhz`` on the ECP5 85F.
``--amaranth-sequences 0`` skips the Amaranth run (about 800 s per tmnist sequence).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from flows import activity as am_activity  # noqa: E402
from flows import energy  # noqa: E402
from flows import verilator_activity as va  # noqa: E402
from flows.synth import default_hardware, load_model  # noqa: E402
from model.export import sample_inputs  # noqa: E402


def _row(name, act, wall, mhz):
    e = energy.activity_energy(act, "ecp5", mhz, luts_available=83640)
    tog = act["toggles"]
    cycles = act["cycles"]
    return (f"| {name} | {act['sequences']} | {wall:.1f} | {cycles / max(wall, 1e-9):,.0f} | "
            f"{act['register_bits']:,} | {tog['registers'] / act['sequences']:,.0f} | "
            f"{tog['combinational'] / act['sequences']:,.0f} | {tog['memory_read_data'] / act['sequences']:,.0f} | "
            f"{e['dynamic_nj']:,.1f} | {e['total_nj']:,.1f} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="digits", help="weights package or preset (random weights)")
    ap.add_argument("--lanes", type=int)
    ap.add_argument("--par", type=int)
    ap.add_argument("--sequences", type=int, default=8, help="sequences in Verilator")
    ap.add_argument("--amaranth-sequences", type=int, default=None,
                    help="sequences in the Amaranth simulator (default: --sequences; 0 skips it)")
    ap.add_argument("--mhz", type=float, default=100.0, help="clock for the energy figures")
    ap.add_argument("--build", type=Path, help="Verilator build folder (default: a temporary one)")
    args = ap.parse_args(argv)
    pkg = load_model(args.model)
    hw = default_hardware(pkg.cfg, args.lanes, args.par)
    x, _ = sample_inputs(pkg, args.sequences)
    print(f"{args.model}: {pkg.cfg.name}, L={hw.lanes}, P={hw.par}, {len(x)} sequences", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.build or Path(tmp) / "verilator"
        t0 = time.perf_counter()
        ve = va.measure_activity(hw, pkg.params, x, folder=folder)
        wall = time.perf_counter() - t0
        print(f"  Verilator: build {ve['wall_s']['build']:.1f} s, simulate {ve['wall_s']['simulate']:.1f} s, "
              f"count {ve['wall_s']['count']:.1f} s; results {'equal to' if ve['mismatch'] is None else 'DIFFER from'} "
              f"the golden model", flush=True)
        rows.append(_row("Verilator (build + run)", ve, wall, args.mhz))
        rows.append(_row("Verilator (run only)", ve, ve["wall_s"]["simulate"], args.mhz))
    n_am = args.sequences if args.amaranth_sequences is None else args.amaranth_sequences
    if n_am:
        t0 = time.perf_counter()
        am = am_activity.measure_activity(hw, pkg.params, x[:n_am])
        wall = time.perf_counter() - t0
        print(f"  Amaranth: build {am['wall_s']['build']:.1f} s, simulate {am['wall_s']['simulate']:.1f} s",
              flush=True)
        rows.append(_row("Amaranth", am, wall, args.mhz))
    print()
    print("| counter | sequences | wall s | cycles/s | register bits | register toggles/seq | "
          "combinational toggles/seq | memory read-data toggles/seq | dynamic nJ/seq | total nJ/seq |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    print(f"\nenergy (b) at {args.mhz:g} MHz, ECP5 85F; combinational toggles: Verilator counts Yosys-level "
          "nets (one per operator), Amaranth named signals")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
