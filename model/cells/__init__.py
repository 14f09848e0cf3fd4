"""Cells as plug-ins: what a cell says about itself, and how the rest finds it.

A *cell* is the per-neuron computation of one (element n, spike step k) position of a
layer. Everything around it is shared and does not know which cell it runs: the
schedule (rounds of cells that respect (n, k-1) -> (n, k) and (n-1, k) -> (n, k)), the
event-driven accumulate engine (for every non-zero input, one weight column per gate
row is added to the gate sums), the weight ROM layout, packages, energy counts and
reports.

The engine fixes the part of the contract that every cell shares::

    z(n,k) = sat_acc(W_x . x(n,k) + W_h . h(n-1,k) + b)      [G, H]: G gate rows per neuron

and a cell brings the rest, in one module ``model/cells/<name>.py`` that defines a
module-level ``CELL`` (an instance of a :class:`Cell` subclass):

* ``GATES``: the names of its G gate rows (the rows of ``w_x``, ``w_h`` and ``bias``);
* ``MEMBRANES``: its S per-neuron state values that restart from ``u0`` at k = 0 of
  every element and run along k (``u``, ``[S, H]``);
* ``CARRY``: per-neuron values handed from (n-1, k) to (n, k), zero for n = 0, each
  with its signed width or the config field that gives it (the Datta cell's ``c``);
* ``PARAMS``: its own parameters beyond the engine's (see :class:`ParamSpec`);
* ``step``: the pure step ``(z, u, carry) -> (u, carry, h, record)`` written on
  :mod:`model.numerics`, called by the golden model (NumPy) and the float twin
  (PyTorch) alike; ``h`` is the ternary output that the layer above and the next
  element see;
* ``validate``, ``random_layer`` and ``activity`` (cell-specific configuration rules,
  random integers for tests, operation counts).

Its hardware twin lives in ``hw/cells/<name>.py`` under the same name. Nothing else
has to change to add a cell: :func:`get` imports the module by name.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from .. import numerics as nr

__all__ = ["Cell", "ParamSpec", "ENGINE_PARAMS", "get", "names", "GoldenOps", "TorchOps",
           "uniform", "one_row_engine", "unit_weight_scale", "check_ns_shift", "constants", "start_values"]


@dataclass(frozen=True)
class ParamSpec:
    """One integer parameter array of a layer.

    ``dims`` names its axes: ``G`` gate rows, ``H`` neurons, ``M`` layer inputs, ``S``
    membranes. ``bits`` is the config field of its signed width. ``role`` says what the
    hardware does with it: ``x_weights``, ``h_weights`` and ``bias`` feed the shared
    accumulate engine (weight ROM, bias memory), ``start`` (shape ``[S, H]``) is the
    membranes' start value (a memory read at k = 0), ``constant`` a per-layer value of
    the cell's logic (thresholds; a register in hardware), which a constant must keep in
    ``lo .. 2**(bits-1)-1``. All of them reach the hardware through the parameter ROM
    (:mod:`hw.param_rom`), so a bitstream takes any package of its configuration.
    """

    name: str
    dims: tuple[str, ...]
    bits: str
    role: str
    lo: int | None = None

    def shape(self, cell: "Cell", cfg, layer: int) -> tuple[int, ...]:
        sizes = {"G": len(cell.GATES), "H": cfg.hidden[layer], "M": cfg.layer_inputs(layer),
                 "S": len(cell.MEMBRANES)}
        return tuple(sizes[d] for d in self.dims)

    def range(self, cfg) -> tuple[int, int]:
        lo, hi = nr.signed_range(getattr(cfg, self.bits))
        return (lo if self.lo is None else self.lo), hi


#: the parameters of the shared accumulate engine, the same for every cell
ENGINE_PARAMS = (
    ParamSpec("w_x", ("G", "H", "M"), "w_bits", "x_weights"),
    ParamSpec("w_h", ("G", "H", "H"), "w_bits", "h_weights"),
    ParamSpec("bias", ("G", "H"), "acc_bits", "bias"),
)


class Cell:
    """Base of every cell; a subclass fills in the class attributes and methods."""

    name: str = ""
    GATES: tuple[str, ...] = ()
    MEMBRANES: tuple[str, ...] = ()
    #: ``(name, width)`` of each value handed from element n-1 to n: the width is a
    #: config field's name (``"u_bits"``) or a number of bits (a spike kept: 2)
    CARRY: tuple[tuple[str, str | int], ...] = ()
    #: the cell's own parameters (the engine's come first, see :data:`ENGINE_PARAMS`)
    PARAMS: tuple[ParamSpec, ...] = ()
    #: the per-cell outputs that ``step`` returns in ``record`` besides h and carry:
    #: ``name -> (extra axes before H, NumPy dtype of the trace)``
    RECORD: dict = {}
    #: the float twin's surrogate gradient for the spikes (``model.float_twin.SURROGATES``)
    SURROGATE: str = "triangle"
    #: the values that leak by ``cfg.leak_shift`` (one shift each); None: the membranes
    LEAKS: tuple[str, ...] | None = None

    @property
    def leaks(self) -> tuple[str, ...]:
        """The names of the ``leak_shift`` entries: :attr:`LEAKS`, else the membranes."""
        return self.MEMBRANES if self.LEAKS is None else self.LEAKS

    @staticmethod
    def carry_bits(cfg, bits) -> int:
        """The signed width of a carried value: ``bits`` itself, or the config field it names."""
        return bits if isinstance(bits, int) else getattr(cfg, bits)

    @property
    def gates(self) -> int:
        return len(self.GATES)

    @property
    def params(self) -> tuple[ParamSpec, ...]:
        return ENGINE_PARAMS + tuple(self.PARAMS)

    def by_role(self, role: str) -> tuple[ParamSpec, ...]:
        return tuple(p for p in self.params if p.role == role)

    def record_shape(self, name: str) -> tuple[int, ...]:
        return tuple(len(self.GATES) if a == "G" else a for a in self.RECORD[name][0])

    def record_dtype(self, name: str, cfg):
        """The integer type of a recorded value: the one ``RECORD`` names, or, where it
        names a function, that function of the configuration (a width the config sets)."""
        dtype = self.RECORD[name][1]
        return dtype(cfg) if callable(dtype) and not isinstance(dtype, type) else dtype

    # -- what a subclass provides --------------------------------------------------
    def h_bits(self, cfg) -> int:
        """Signed width of the output h: 2 for a spike in {-1, 0, +1}; wider for a cell
        with multi-bit outputs, whose inputs to the layer above and to the next element
        then cost a multiply-accumulate each (MACs), not an add (ACs)."""
        return 2

    def h_max(self, cfg) -> int:
        """The largest magnitude of h (the sum bounds of :class:`model.config.NetworkConfig`
        use it): 1 for a spike; by default ``2**(h_bits - 2)``, the baseline's ``2**F``."""
        return 1 << (self.h_bits(cfg) - 2)

    def validate(self, cfg, need) -> None:
        """Cell-specific configuration rules; ``need(cond, message)`` raises ConfigError."""

    def step(self, cfg, p, z, u, carry, ops):
        """One cell (n, k) for any leading batch shape: see the module docstring.

        ``p`` holds the ``constant`` parameters, ``z [..., G, H]`` the saturated gate
        sums, ``u [..., S, H]`` the membranes after step k-1, ``carry`` a tuple of
        ``[..., H]`` values of element n-1 at step k. Returns ``(u_next, carry_next, h,
        record)``.
        """
        raise NotImplementedError

    def random_layer(self, cfg, layer: int, rng, base: int) -> dict:
        """Random integers of one layer (all of :attr:`params`); ``base`` is a threshold
        scale near one standard deviation of a gate sum."""
        raise NotImplementedError

    def random_config(self, cfg, rng):
        """``cfg`` made into a configuration of this cell, for random tests (the cosim
        regression draws its other-cell cases through this): the same sizes and widths,
        nothing kept non-spiking, random leak shifts. A cell with rules of its own
        overrides it."""
        leak = tuple(int(s) for s in rng.integers(0, 4, size=len(self.leaks)))
        return cfg.replace(cell=self.name, nonspiking="none", leak_shift=leak)

    def activity(self, cfg, trace, cells: int) -> dict:
        """Cell-specific activity of one layer's trace (``cells``: B x N x T cells);
        must contain ``comparisons``."""
        return {"comparisons": 0}

    def paper_energy(self, cfg, layer: int, h_spikes: float) -> dict | None:
        """The energy count of the cell's own paper for one inference of ``layer``, where
        the paper gives one, beside spikegate's operation counts: a dict with ``formula``,
        ``source``, ``ac`` and ``mac`` (operation counts per inference, ``h_spikes`` being
        the layer's h spikes per inference) and ``e_ac_pj`` / ``e_mac_pj`` (the paper's
        per-operation energies); None where the paper gives none."""
        return None


def get(name: str) -> Cell:
    """The cell named ``name``: ``model/cells/<name>.py``'s ``CELL``."""
    if not isinstance(name, str) or name not in names():
        raise ValueError(f"unknown cell {name!r}; choose one of {', '.join(names())}")
    return _load(name)


@functools.cache
def _load(name: str) -> Cell:
    module = importlib.import_module(f"{__name__}.{name}")
    cell = getattr(module, "CELL", None)
    if not isinstance(cell, Cell):
        raise ValueError(f"model/cells/{name}.py defines no CELL (a model.cells.Cell instance)")
    return cell


@functools.cache
def names() -> tuple[str, ...]:
    """The cells this installation has, from the modules of this package."""
    return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")))


def start_values(cell: Cell, cfg, layer: int, lp) -> np.ndarray:
    """The membranes' start values ``[S, H]`` of a layer: its ``start`` parameter, or an
    empty ``[0, H]`` for a cell without membranes."""
    start = cell.by_role("start")
    if start:
        return np.asarray(getattr(lp, start[0].name))
    return np.zeros((0, cfg.hidden[layer]), np.int64)


def constants(cell: Cell, lp) -> SimpleNamespace:
    """A layer's ``constant`` parameters as Python ints for the golden model: a list per
    parameter, a plain int for a scalar one (``dims == ()``), the shape the float twin
    sees too."""
    out = {}
    for spec in cell.by_role("constant"):
        values = [int(v) for v in np.ravel(getattr(lp, spec.name))]
        out[spec.name] = values if spec.dims else values[0]
    return SimpleNamespace(**out)


def unit_weight_scale(cfg, m: int, h: int, x_rms: float, h_rms: float) -> float:
    """The factor on uniform full-range weights that makes a gate sum about one unit
    ``2**(frac_bits + ns_shift)`` wide (so that the multi-bit activations of a random
    layer use their range instead of sitting at a clamp), for ``m`` inputs and ``h``
    recurrent values of the given RMS sizes; at least one integer unit of weight."""
    w_hi = nr.signed_range(cfg.w_bits)[1]
    spread = w_hi / np.sqrt(3) * np.sqrt(m * x_rms ** 2 + h * h_rms ** 2)
    return min(1.0, max((1 << (cfg.frac_bits + cfg.ns_shift)) / max(spread, 1.0), 1.0 / w_hi))


def check_ns_shift(cfg, need) -> None:
    """The input shift of the multi-bit activations lies in 0 .. acc_bits - 1."""
    need(isinstance(cfg.ns_shift, int) and 0 <= cfg.ns_shift < cfg.acc_bits,
         f"ns_shift must be from 0 to acc_bits-1, got {cfg.ns_shift!r}")


def one_row_engine(cfg, layer: int, rng) -> dict:
    """Random engine arrays of a layer with one gate row per neuron (``w_x``, ``w_h``,
    ``bias``: full-range uniform weights, biases of a weight's range), drawn in that
    order; the one-row cells add their own parameters after them."""
    h, m = cfg.hidden[layer], cfg.layer_inputs(layer)
    return {
        "w_x": uniform(rng, cfg.w_bits, (1, h, m)),
        "w_h": uniform(rng, cfg.w_bits, (1, h, h)),
        "bias": np.clip(uniform(rng, cfg.w_bits, (1, h)), *nr.signed_range(cfg.acc_bits)),
    }


def uniform(rng, bits: int, shape, scale: float = 1.0):
    """Uniform signed ``bits``-wide integers (the random init of weights)."""
    lo, hi = nr.signed_range(bits)
    lo, hi = int(lo * scale), int(hi * scale)
    return rng.integers(lo, hi + 1, size=shape, dtype=np.int64)


class GoldenOps:
    """The integer model's view of the shared rules: saturations are counted."""

    spike = None  # exact comparisons

    def __init__(self, cfg, tally: dict | None):
        self.cfg, self.tally = cfg, tally

    def membrane(self, index: int, u, z):
        """``sat(leak(u) + z)`` of membrane ``index`` of the cell."""
        return nr.membrane_update(u, z, self.cfg.leak_shift[index], self.cfg.u_bits, self.tally)

    def stack(self, values, axis: int):
        return np.stack(values, axis=axis)


class TorchOps:
    """The float twin's view: spikes through a surrogate step, optionally a real leak."""

    def __init__(self, cfg, spike, leak_factor=None):
        self.cfg, self.spike, self.leak_factor, self.tally = cfg, spike, leak_factor, None

    def membrane(self, index: int, u, z):
        if self.leak_factor is None:
            return nr.membrane_update(u, z, self.cfg.leak_shift[index], self.cfg.u_bits)
        return nr.saturate(self.leak_factor[index].clamp(0.5, 1.0) * u + z, self.cfg.u_bits)

    def stack(self, values, axis: int):
        import torch
        return torch.stack(values, dim=axis)
