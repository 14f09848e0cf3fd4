"""cocotb co-simulation of the generated Verilog against the golden model (CI-sized).

The long constrained-random sweep is ``make cosim``; this runs a few cases: a normal
one with idle gaps and back-pressure, a design with a deliberate fault that the
regression must catch, and (when Icarus is installed) both simulators on one case.
"""

import shutil

import pytest

from cosim.runner import CosimCase, run_case
from hw.config import HardwareConfig
from model.config import preset

pytestmark = pytest.mark.cosim


def small_case(name, **changes):
    net = preset("tiny", encoding="rate", length=4)
    return CosimCase(name=name, hw=HardwareConfig(net, lanes=2, par=8), sequences=6,
                     threshold_scale=0.4, **changes)


def test_verilator_matches_golden_with_backpressure(tmp_path):
    r = run_case(small_case("ci_verilator", input_gaps=0.3, output_stalls=0.5, input_seed=3),
                 build_root=tmp_path)
    assert r["mismatch"] is None, r["mismatch"]
    assert len(r["results"]) == 6
    assert r["cycles"] > sum(res["cycles"] for res in r["results"])  # input and gaps add cycles
    print(f"verilator: {r['cycles_per_s']:.0f} cycles/s")


def test_a_faulty_design_is_reported(tmp_path):
    # the hardware gets the c LIF's threshold off by one; the golden model does not
    r = run_case(small_case("ci_fault", fault="threshold", input_seed=5), build_root=tmp_path)
    assert r["mismatch"] is not None
    assert r["mismatch"].startswith("sequence ")


@pytest.mark.skipif(shutil.which("iverilog") is None,
                    reason="Icarus Verilog is not installed (Debian package iverilog); "
                           "it is the optional second simulator")
@pytest.mark.xfail(strict=True, reason="known defect: under Icarus 11 the generated Verilog "
                   "gives fewer cycles (and, with rate input, different logits) than under "
                   "Verilator and the golden model; not yet understood")
def test_icarus_and_verilator_agree(tmp_path):
    case = small_case("ci_both", input_seed=7)
    a = run_case(case, sim="verilator", build_root=tmp_path)
    b = run_case(case, sim="icarus", build_root=tmp_path)
    assert a["mismatch"] is None and b["mismatch"] is None, (a["mismatch"], b["mismatch"])
    assert a["results"] == b["results"]
