"""NIR interchange (model/nir.py, hw/nir.py): lif networks written as NIR graphs mean what
the documented conventions say (checked by a NIR interpreter written here from the
node equations, independent of the importer), survive nir.write / nir.read / import
with identical golden outputs, and every network or graph NIR cannot carry is refused
with the message that names what is missing. An imported graph runs in the Amaranth
simulator like its golden model, and the command lines write files the generator and
the package checker accept."""

import json

import nir
import numpy as np
import pytest

from conftest import check_network_in_simulator, random_input
from hw.config import HardwareConfig
from model import golden
from model.config import preset
from model.encoding import encode
from model.nir import NIRError, from_nir, read_graph, to_nir, write_graph
from model.params import random_params

pytestmark = pytest.mark.golden


def lif_config(**changes):
    base = dict(cell="lif", steps=1, length=7, hidden=(6, 5), leak_shift=(2,))
    return preset("tiny", **{**base, **changes})


def network(seed=3, **changes):
    cfg = lif_config(**changes)
    return cfg, random_params(cfg, seed, threshold_scale=0.4)


def through_file(graph, tmp_path):
    path = write_graph(graph, tmp_path / "net.nir")
    return nir.read(path)


def same_outputs(cfg_a, params_a, x_a, cfg_b, params_b, x_b=None):
    a = golden.run(cfg_a, params_a, x_a)
    b = golden.run(cfg_b, params_b, x_a if x_b is None else x_b)
    assert np.array_equal(a.logits, b.logits)
    assert np.array_equal(a.element_logits, b.element_logits)
    for ta, tb in zip(a.layers, b.layers):
        assert np.array_equal(ta.h, tb.h) and np.array_equal(ta.v, tb.v)
    assert all(0 < np.mean(t.h) < 1 for t in a.layers)  # spiking: the comparison saw spikes
    return a


# --- a NIR interpreter, written from the node equations of nir 1.0 ----------------------

def interpret(graph, x, floor_leak):
    """Run ``graph`` on ``x [T, M]`` with dt = 1: every node once per time step in the
    order of the edges from the Input; an edge that closes a cycle carries the value of
    the previous time step. LIF: ``v += (v_leak - v + r I) / tau``, with the leak's
    ``v / tau`` floored when ``floor_leak`` (spikegate's integer rule); IF: ``v += r I``;
    a spike when ``v > v_threshold``, then ``v = v_reset``. Returns every node's output
    per time step, and each neuron's membrane after its reset (``"<name>.v"``)."""
    nodes, edges = graph.nodes, graph.edges
    order, back, state = [], set(), {}
    start = next(n for n, v in nodes.items() if isinstance(v, nir.Input))

    def visit(n, stack):
        state[n] = "open"
        for a, b in edges:
            if a != n:
                continue
            if state.get(b) == "open":
                back.add((a, b))
            elif b not in state:
                visit(b, stack)
        state[n] = "done"
        order.append(n)

    visit(start, [])
    order.reverse()
    v = {n: 0.0 for n in nodes}
    prev = {n: 0.0 for n in nodes}
    out = {n: [] for n in nodes} | {f"{n}.v": [] for n in nodes}
    for t in range(len(x)):
        now = {}
        for n in order:
            node = nodes[n]
            inp = sum((prev[a] if (a, b) in back else now[a]) for a, b in edges if b == n)
            if isinstance(node, nir.Input):
                y = x[t].astype(float)
            elif isinstance(node, nir.Affine):
                y = node.weight @ inp + node.bias
            elif isinstance(node, nir.Linear):
                y = node.weight @ inp
            elif isinstance(node, (nir.LIF, nir.IF)):
                if isinstance(node, nir.LIF):
                    leak = v[n] / node.tau
                    leak = np.floor(leak) if floor_leak else leak
                    v[n] = v[n] - leak + (node.v_leak + node.r * inp) / node.tau
                else:
                    v[n] = v[n] + node.r * inp
                y = (v[n] > node.v_threshold).astype(float)
                v[n] = np.where(y > 0, node.v_reset, v[n])
                out[f"{n}.v"].append(v[n])
            elif isinstance(node, nir.Output):
                y = inp
            else:
                raise AssertionError(f"the interpreter has no {type(node).__name__}")
            now[n] = y
            out[n].append(y)
        prev = now
    return {n: np.array(values) for n, values in out.items()}


@pytest.mark.parametrize("shift, encoding, floor_leak", [(0, "spikes", False), (0, "direct", False),
                                                         (2, "spikes", True), (1, "direct", True)])
def test_the_graph_means_what_the_conventions_say(shift, encoding, floor_leak):
    # wide membranes: a direct-coded IF layer would saturate 16 bits, and NIR does not
    cfg, params = network(leak_shift=(shift,), encoding=encoding, hidden=(6, 5, 3), u_bits=24,
                          acc_bits=24)
    graph = to_nir(cfg, params)
    x = random_input(cfg, 3, np.random.default_rng(5))
    ref = golden.run(cfg, params, x)
    assert sum(ref.stats["saturations"].values()) == 0  # NIR has no saturation
    feed = encode(cfg, x)
    for b in range(len(x)):
        seq = feed[b] if feed.ndim == 3 else feed[b, :, 0]  # [N, M]: one time step per element
        run = interpret(graph, seq, floor_leak)
        for l, tr in enumerate(ref.layers):
            assert np.array_equal(run[f"l{l}"], tr.h[b, :, 0]), (b, l)
        assert np.array_equal(run["output"], ref.element_logits[b])
        assert np.array_equal(run["output"][-1], ref.logits[b])   # logits: the last step
    assert any(np.count_nonzero(t.h) for t in ref.layers)


def test_the_leak_floor_is_spikegate_s_not_nir_s():
    # the documented difference: with a leak, the membranes follow spikegate's floored
    # v - (v >> s), not NIR's exact v - v / tau (so the test above does test the floor)
    cfg, params = network(leak_shift=(2,))
    graph = to_nir(cfg, params)
    x = encode(cfg, random_input(cfg, 2, np.random.default_rng(5)))
    ref = golden.run(cfg, params, x)
    for b in range(len(x)):
        floored = interpret(graph, x[b, :, 0], floor_leak=True)
        exact = interpret(graph, x[b, :, 0], floor_leak=False)
        for l, tr in enumerate(ref.layers):
            assert np.array_equal(floored[f"l{l}.v"], tr.v[b, :, 0])
            assert not np.array_equal(exact[f"l{l}.v"], tr.v[b, :, 0])


@pytest.mark.parametrize("changes", [dict(leak_shift=(0,), hidden=(5,)),
                                     dict(leak_shift=(2,), encoding="direct", hidden=(6, 5)),
                                     dict(leak_shift=(1,), hidden=(4, 6, 3), w_bits=12, u_bits=20,
                                          acc_bits=24, logit_bits=24, length=11)])
def test_round_trip_through_a_nir_file(changes, tmp_path):
    cfg, params = network(**changes)
    graph = through_file(to_nir(cfg, params), tmp_path)
    kinds = {type(n).__name__ for n in graph.nodes.values()}
    assert ("IF" in kinds) == (cfg.leak_shift == (0,)) and ("LIF" in kinds) != (cfg.leak_shift == (0,))
    assert all(n.weight.dtype == np.float64 for n in graph.nodes.values() if hasattr(n, "weight"))
    cfg2, params2 = from_nir(graph)
    assert cfg2 == cfg  # the widths, length and encoding travel in the metadata
    same_outputs(cfg, params, random_input(cfg, 30, np.random.default_rng(1)), cfg2, params2)


def test_a_trained_network_round_trips(tmp_path):
    # a lif network trained on digits for an epoch (steps=1, direct features): its golden
    # outputs on the test split are those of its NIR graph imported again
    from model import train_cell
    settings = train_cell.CellSettings(cell="lif", steps=1, encoding="direct", epochs=1,
                                       qat_epochs=1, config_changes={"leak_shift": (1,)})
    r = train_cell.train(settings, quiet=True)
    cfg, params = r["cfg"], r["params"]
    cfg2, params2 = from_nir(through_file(to_nir(cfg, params), tmp_path))
    ref = same_outputs(cfg, params, r["x_test"], cfg2, params2)
    assert np.mean(ref.predicted == r["y_test"]) == pytest.approx(r["golden_acc"])
    assert r["golden_acc"] > 0.2  # it learned something: the weights are not trivial


@pytest.mark.parametrize("cell, missing", [
    ("datta", "NIR has no element-wise product or sigmoid/tanh node"),
    ("lstm", "NIR has no element-wise product or sigmoid/tanh node"),
    ("slstm", "NIR has no element-wise product or sigmoid/tanh node"),
    ("if_neuron", "NIR resets to v_reset; the if_neuron cell subtracts the threshold"),
    ("idsnn", "NIR has no node for the idsnn cell's gates"),
])
def test_cells_nir_cannot_express_are_refused(cell, missing):
    cfg = preset("tiny", cell=cell, steps=1, encoding="direct")
    params = random_params(cfg, 0)
    with pytest.raises(NIRError, match=missing):
        to_nir(cfg, params)


def test_steps_and_encoders_nir_has_no_node_for_are_refused():
    cfg, params = network(steps=2)
    with pytest.raises(NIRError, match="NIR has one time axis"):
        to_nir(cfg, params)
    for encoding, what in (("rate", "rate encoder"), ("level", "level-crossing encoder")):
        cfg, params = network(encoding=encoding)
        with pytest.raises(NIRError, match=f"NIR has no node for the {what}.*--encoded-input"):
            to_nir(cfg, params)


@pytest.mark.parametrize("encoding", ["rate", "level"])
def test_encoded_input_keeps_the_encoder_outside(encoding, tmp_path):
    cfg, params = network(encoding=encoding)
    cfg2, params2 = from_nir(through_file(to_nir(cfg, params, encoded_input=True), tmp_path))
    assert cfg2.encoding == "spikes" and cfg2.inputs == cfg.layer_inputs(0)
    x = random_input(cfg, 20, np.random.default_rng(2))
    same_outputs(cfg, params, x, cfg2, params2, encode(cfg, x))
    # and the encoder can be put back in front of the graph on import
    cfg3, params3 = from_nir(to_nir(cfg, params, encoded_input=True), encoding=encoding)
    assert cfg3 == cfg
    same_outputs(cfg, params, x, cfg3, params3)


# --- graphs from elsewhere ------------------------------------------------------------

def foreign(graph, **node_changes):
    """``graph`` as another tool would write it: no spikegate metadata, and the named
    nodes replaced."""
    nodes = {**graph.nodes, **node_changes}
    return nir.NIRGraph(nodes=nodes, edges=list(graph.edges), metadata={}, type_check=False)


def cuba(lif, tau_syn=1.0, w_in=1.0):
    h = lif.v_threshold.shape
    return nir.CubaLIF(tau_syn=np.full(h, tau_syn), tau_mem=lif.tau, r=lif.r, v_leak=lif.v_leak,
                       v_threshold=lif.v_threshold, v_reset=lif.v_reset, w_in=np.full(h, w_in))


def test_a_foreign_graph_needs_a_length_and_takes_the_defaults():
    cfg, params = network()
    graph = foreign(to_nir(cfg, params))
    with pytest.raises(NIRError, match="no sequence length; give length=N"):
        from_nir(graph)
    cfg2, params2 = from_nir(graph, length=cfg.length)
    assert cfg2.replace(name=cfg.name) == cfg
    with pytest.raises(NIRError, match=r"hidden=\[6, 6\] contradicts the graph"):
        from_nir(graph, length=5, hidden=[6, 6])


def test_cuba_lif_with_an_instant_synapse_is_a_lif():
    cfg, params = network()
    graph = to_nir(cfg, params)
    cfg2, params2 = from_nir(foreign(graph, l0=cuba(graph.nodes["l0"]), l1=cuba(graph.nodes["l1"])),
                             length=cfg.length)
    same_outputs(cfg, params, random_input(cfg, 20, np.random.default_rng(3)), cfg2, params2)
    with pytest.raises(NIRError, match=r"'l1' \(CubaLIF\): tau_syn is 4: its synaptic current filters"):
        from_nir(foreign(graph, l1=cuba(graph.nodes["l1"], tau_syn=4.0)), length=5)
    with pytest.raises(NIRError, match=r"'l0' \(CubaLIF\): w_in is 2"):
        from_nir(foreign(graph, l0=cuba(graph.nodes["l0"], w_in=2.0)), length=5)


def _lif(node, **changes):
    fields = dict(tau=node.tau, r=node.r, v_leak=node.v_leak, v_threshold=node.v_threshold,
                  v_reset=node.v_reset)
    return nir.LIF(**{**fields, **changes})


def _with(node, **arrays):
    return type(node)(**{"weight": node.weight, **({"bias": node.bias} if hasattr(node, "bias") else {}),
                         **arrays})


def test_what_the_importer_refuses_names_the_node_and_the_value():
    cfg, params = network()
    g = to_nir(cfg, params)
    l0, h = g.nodes["l0"], cfg.hidden[0]
    cases = [
        (dict(l0=nir.LI(tau=l0.tau, r=l0.r, v_leak=l0.v_leak)), r"'l0' is a LI: spikegate imports only"),
        (dict(l1=nir.Threshold(threshold=np.ones(5))), r"'l1' is a Threshold"),
        (dict(l0=_lif(l0, tau=np.full(h, 3.0), r=np.full(h, 3.0))), r"'l0' \(LIF\): tau is 3.0"),
        (dict(l0=_lif(l0, r=np.full(h, 1.0))), r"'l0' \(LIF\): r is 1, tau 4.0"),
        (dict(l0=_lif(l0, v_reset=np.full(h, -2.0))), r"'l0' \(LIF\): v_reset is -2"),
        (dict(l0=_lif(l0, v_leak=np.full(h, 1.0))), r"'l0' \(LIF\): v_leak is 1"),
        (dict(l0=_lif(l0, v_threshold=np.arange(1.0, h + 1))), "one threshold per layer"),
        (dict(l0=nir.IF(r=np.ones(h), v_threshold=l0.v_threshold, v_reset=np.zeros(h))),
         r"leak differently \(l0: IF s=0, l1: LIF s=2\)"),
    ]
    w = g.nodes["l0_x"].weight.copy()
    w[2, 1] = 0.5
    cases.append((dict(l0_x=_with(g.nodes["l0_x"], weight=w)), r"'l0_x': weight holds 0.5, not an integer"))
    w = g.nodes["l1_h"].weight.copy()
    w[0, 0] = 300
    cases.append((dict(l1_h=_with(g.nodes["l1_h"], weight=w)),
                  r"'l1_h': weight holds 300, outside w_bits=8's \[-128, 127\]; give w_bits=10"))
    b = g.nodes["readout"].bias.copy()
    b[1] = 1 << 20
    cases.append((dict(readout=_with(g.nodes["readout"], bias=b)), r"'readout': bias holds 1048576, outside logit_bits=20"))
    cases.append((dict(l1=_lif(g.nodes["l1"], v_threshold=np.full(5, 0.0))),
                  r"'l1': v_threshold holds 0, outside u_bits=16's \[1, 32767\]"))
    for changes, message in cases:
        with pytest.raises(NIRError, match=message):
            from_nir(foreign(g, **changes), length=5)
    # the out-of-range weight fits once the width it names is given
    w = g.nodes["l1_h"].weight.copy()
    w[0, 0] = 300
    cfg2, params2 = from_nir(foreign(g, l1_h=_with(g.nodes["l1_h"], weight=w)), length=5, w_bits=10)
    assert cfg2.w_bits == 10 and params2.layers[1].w_h[0, 0, 0] == 300


def test_graphs_that_are_not_a_layer_chain_are_refused():
    cfg, params = network()
    g = to_nir(cfg, params)
    skip = nir.Affine(weight=np.ones((5, cfg.inputs)), bias=np.zeros(5))
    edges = list(g.edges) + [("input", "skip"), ("skip", "l1")]
    bad = nir.NIRGraph(nodes={**g.nodes, "skip": skip}, edges=edges, metadata={}, type_check=False)
    with pytest.raises(NIRError, match="'input' feeds 2 layers"):
        from_nir(bad, length=5)
    edges = [e for e in g.edges if "l1_x" not in e] + [("l0", "l1")]
    nodes = {n: v for n, v in g.nodes.items() if n != "l1_x"}
    bad = nir.NIRGraph(nodes=nodes, edges=edges, metadata={}, type_check=False)
    with pytest.raises(NIRError, match="'l0' -> 'l1' carries no weights"):
        from_nir(bad, length=5)


def test_quantize_scales_a_float_graph_into_the_widths():
    # a float graph that is an integer network times a factor per layer: quantizing
    # finds the integers again (each layer's largest weight is the largest w_bits value)
    cfg, params = network()
    for lp in params.layers:  # (symmetric: the largest magnitude is 127, no -128)
        lp.w_x, lp.w_h = np.clip(lp.w_x, -127, 127), np.clip(lp.w_h, -127, 127)
        lp.w_x[0, 0, 0] = 127
    params.w_out = np.clip(params.w_out, -127, 127)
    params.w_out[0, 0] = -127
    g = to_nir(cfg, params)
    scaled = {}
    for name, factor in (("l0", 0.013), ("l1", 2.5), ("readout", 1e-3)):
        for part in ([name] if name == "readout" else [f"{name}_x", f"{name}_h"]):
            node = g.nodes[part]
            scaled[part] = _with(node, weight=node.weight * factor,
                                 **({"bias": node.bias * factor} if hasattr(node, "bias") else {}))
        if name != "readout":
            scaled[name] = _lif(g.nodes[name], v_threshold=g.nodes[name].v_threshold * factor)
    floats = foreign(g, **scaled)
    with pytest.raises(NIRError, match="not an integer"):
        from_nir(floats, length=cfg.length)
    cfg2, params2 = from_nir(floats, length=cfg.length, quantize=True)
    same_outputs(cfg, params, random_input(cfg, 20, np.random.default_rng(4)), cfg2, params2)


def test_unreadable_files_are_refused(tmp_path):
    with pytest.raises(NIRError, match="no NIR file"):
        read_graph(tmp_path / "absent.nir")
    (tmp_path / "junk.nir").write_text("not hdf5")
    with pytest.raises(NIRError, match="is not a NIR graph"):
        read_graph(tmp_path / "junk.nir")


# --- hardware and command lines ---------------------------------------------------------

@pytest.mark.hwsim
def test_an_imported_graph_runs_in_the_amaranth_simulator(tmp_path):
    cfg, params = network(leak_shift=(1,), hidden=(4, 3), length=5)
    g = to_nir(cfg, params)
    cfg2, params2 = from_nir(foreign(g, l0=cuba(g.nodes["l0"])), length=5)
    x = random_input(cfg2, 3, np.random.default_rng(6))
    ref = check_network_in_simulator(HardwareConfig(cfg2, lanes=1, par=1), params2, x)
    assert any(np.count_nonzero(t.h) for t in ref.layers)


@pytest.mark.hwsim
def test_command_lines_export_import_and_generate(tmp_path, capsys):
    from hw import generate, nir as hw_nir, package
    from model import nir as model_nir
    cfg, params = network(hidden=(4, 6))
    package.write_package(tmp_path / "pkg", cfg, params, par=2)
    assert model_nir.main(["export", str(tmp_path / "pkg"), "--out", str(tmp_path / "a.nir")]) == 0
    assert model_nir.main(["import", str(tmp_path / "a.nir"), "--out", str(tmp_path / "arrays")]) == 0
    assert hw_nir.main(["import", str(tmp_path / "a.nir"), "--out", str(tmp_path / "full")]) == 0
    full = package.load_package(tmp_path / "full", expect=cfg, verify=True)
    assert full.manifest["par"] == 2 and full.manifest["source"]["nir_version"] == nir.version
    arrays = package.export.load_package(tmp_path / "arrays", expect=cfg, verify=True)
    for pkg in (full, arrays):
        for a, b in zip(pkg.params.layers, params.layers):
            assert all(np.array_equal(getattr(a, n), getattr(b, n)) for n in a.names)
    assert generate.main(["--weights", str(tmp_path / "arrays"), "--par", "2",
                          "--out", str(tmp_path / "net.v")]) == 0
    assert "module" in (tmp_path / "net.v").read_text()
    # refusals are one line on stderr with exit status 2, and leave no file behind
    lstm = preset("tiny", steps=1)
    package.write_package(tmp_path / "lstm", lstm, random_params(lstm, 0))
    capsys.readouterr()
    assert model_nir.main(["export", str(tmp_path / "lstm"), "--out", str(tmp_path / "b.nir")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "element-wise product" in err and err.count("\n") == 1
    assert not (tmp_path / "b.nir").exists()
    meta = json.loads(nir.read(tmp_path / "a.nir").metadata["spikegate_config"])
    assert meta["cell"] == "lif" and meta["steps"] == 1
