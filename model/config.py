"""Network configuration: one frozen dataclass, validated on construction."""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass, field

from . import numerics as nr

__all__ = ["ConfigError", "NetworkConfig", "PRESETS", "preset", "ENCODINGS", "NONSPIKING",
           "DEFAULT_CELL", "READOUTS", "WIDTH_FIELDS", "WIDTH_RANGE", "random_widths"]

#: gate sums must stay below this for the golden model's exact integer sums (int64)
EXACT_SUM_LIMIT = 1 << 62
#: the most memory :meth:`NetworkConfig.golden_bytes` may estimate for one sequence: a
#: configuration above it is refused at once, not by a MemoryError deep in a run (#18)
GOLDEN_BYTES_LIMIT = 8 << 30

#: First-layer input encodings (DESIGN §2.3).
ENCODINGS = ("direct", "rate", "level", "spikes")
#: Which gate of the Datta cell is kept non-spiking ("none": all gates spike).
NONSPIKING = ("none", "i", "g")
#: the declared widths, and the range validation accepts for each of them (bits)
WIDTH_FIELDS = ("x_bits", "w_bits", "acc_bits", "u_bits", "c_bits", "logit_bits", "ns_bits")
WIDTH_RANGE = (2, 32)
#: the cell of a configuration that names none (every package before cells were plug-ins)
DEFAULT_CELL = "datta"
#: Readouts: ``last`` (the logits of the last element), ``integrator`` (a leaky
#: integrator of every element's logits, summed over the sequence: Yin et al.'s readout)
#: or ``element`` (one result per element, for streaming tasks)
READOUTS = ("last", "integrator", "element")


class ConfigError(ValueError):
    """A configuration or parameter set that spikegate cannot build or evaluate."""


@dataclass(frozen=True)
class NetworkConfig:
    """Everything that fixes the arithmetic of a spiking recurrent network.

    ``cell`` names the cell every layer computes (a module of :mod:`model.cells`,
    default the Datta spiking LSTM); the fields a cell does not use are ignored by it,
    and the cell adds its own rules to the validation.

    Sizes: ``inputs`` (M) features per element, ``hidden`` (H per layer, one entry per
    stacked layer), ``steps`` (T spike steps per element), ``length`` (N elements per
    sequence), ``classes`` readout outputs.

    Widths (signed, two's complement): ``w_bits`` weights, ``acc_bits`` gate
    accumulators (saturated once, after the exact sum) and biases, ``u_bits``
    membranes and thresholds, ``c_bits`` cell state, ``logit_bits`` readout.

    ``leak_shift`` holds one shift per membrane of the cell (Datta: f, i, o, g, c);
    0 means IF; left out, every membrane is IF.
    ``nonspiking`` names the gate kept multi-bit ("i": quantized hard sigmoid, "g":
    quantized hard tanh) with ``ns_bits`` output bits and input shift ``ns_shift``.
    ``frac_bits``: fraction bits of the multi-bit activations of a non-spiking cell
    (the baseline LSTM, ``cell="lstm"``: 1.0 is ``2**frac_bits``; its gates also take
    the input shift ``ns_shift``).

    Readout: ``readout="last"`` gives ``logits = sat(b_out + W_out . sum_k h(N-1, k))``;
    ``readout="integrator"`` runs a leaky integrator over every element's readout sum
    ``r(n)``, ``o(n) = leak(o(n-1), readout_leak) + r(n)``, and gives
    ``logits = sat(sum_n o(n))``, the time average of the integrator up to a constant
    (``readout_leak`` 0: no leak). ``readout="element"`` gives one result per element,
    ``sat(r(n))`` and its class, in order (the sequence's logits are the last element's).

    Encodings: ``direct`` (signed ``x_bits`` features each step), ``rate`` (unsigned
    ``x_bits`` features, LFSR Bernoulli spikes seeded with ``lfsr_seed``), ``level``
    (unsigned ``x_bits`` features, up/down channels on crossings of levels
    ``x >> level_shift``), ``spikes`` (given spikes in {-1, 0, +1}).
    """

    inputs: int
    hidden: tuple[int, ...]
    steps: int
    length: int
    classes: int = 10
    encoding: str = "spikes"
    x_bits: int = 8
    level_shift: int = 4
    lfsr_seed: int = 0xACE1
    nonspiking: str = "none"
    ns_bits: int = 4
    ns_shift: int = 2
    frac_bits: int = 6
    w_bits: int = 8
    acc_bits: int = 16
    u_bits: int = 16
    c_bits: int = 12
    logit_bits: int = 20
    leak_shift: tuple[int, ...] | None = None
    cell: str = DEFAULT_CELL
    readout: str = "last"
    readout_leak: int = 0
    name: str = field(default="custom", compare=False)

    def __post_init__(self):
        # NumPy integers (np.int64(8), a size read from an array) are integers here; a
        # field that is neither a number nor a list of them is left for _validate to name
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("hidden", "leak_shift"):
                if _is_integer(value):
                    value = (value,)
                elif isinstance(value, (list, tuple, range)) or getattr(value, "ndim", None) == 1:
                    value = tuple(_plain(v) for v in value)
            object.__setattr__(self, f.name, _plain(value))
        if self.leak_shift is None:
            object.__setattr__(self, "leak_shift", (0,) * len(self.cell_def().leaks)
                               if self._known_cell() else ())
        self._validate()

    def _known_cell(self) -> bool:
        from . import cells
        return isinstance(self.cell, str) and self.cell in cells.names()

    def cell_def(self):
        """The :class:`model.cells.Cell` this configuration computes."""
        from . import cells
        try:
            return cells.get(self.cell)
        except ValueError as err:
            raise ConfigError(f"config {self.name!r}: {err}") from None

    # -- validation -------------------------------------------------------------------
    def _validate(self):
        def need(cond, msg):
            if not cond:
                raise ConfigError(f"config {self.name!r}: {msg}")

        def is_int(v):
            return isinstance(v, int) and not isinstance(v, bool)

        for fname in ("inputs", "steps", "length", "classes"):
            v = getattr(self, fname)
            need(is_int(v), f"{fname} must be an integer, got {v!r}")
        for fname in ("hidden", "leak_shift"):
            v = getattr(self, fname)
            need(isinstance(v, tuple), f"{fname} must be an integer or a list of integers, got {v!r}")
        need(self.inputs >= 1, f"inputs (M) must be >= 1, got {self.inputs}")
        need(self.steps >= 1, f"steps (T) must be >= 1, got {self.steps}")
        need(self.length >= 1, f"length (N) must be >= 1, got {self.length}")
        need(self.classes >= 1, f"classes must be >= 1, got {self.classes}")
        need(len(self.hidden) >= 1, "hidden must name at least one layer size")
        for h in self.hidden:
            need(is_int(h) and h >= 1, f"every hidden size must be an integer >= 1, got {self.hidden}")
        need(self.encoding in ENCODINGS,
             f"unknown encoding {self.encoding!r}; choose one of {', '.join(ENCODINGS)}")
        cell = self.cell_def()
        lo, hi = WIDTH_RANGE
        for fname in WIDTH_FIELDS:
            v = getattr(self, fname)
            need(is_int(v) and lo <= v <= hi, f"{fname} must be an integer from {lo} to {hi}, got {v!r}")
        need(self.x_bits <= nr.LFSR_BITS or self.encoding != "rate",
             f"x_bits={self.x_bits} is wider than the {nr.LFSR_BITS}-bit rate-coding LFSR")
        need(self.acc_bits >= self.w_bits,
             f"acc_bits={self.acc_bits} cannot hold a {self.w_bits}-bit weight")
        need(self.u_bits >= 2, "u_bits must be >= 2")
        need(self.logit_bits >= self.w_bits,
             f"logit_bits={self.logit_bits} cannot hold a {self.w_bits}-bit readout weight")
        need(len(self.leak_shift) == len(cell.leaks),
             f"leak_shift needs {len(cell.leaks)} entries ({', '.join(cell.leaks)}), "
             f"got {self.leak_shift}")
        for s in self.leak_shift:
            need(is_int(s) and 0 <= s < self.u_bits,
                 f"every leak shift must be an integer from 0 (IF) to u_bits-1={self.u_bits - 1}, "
                 f"got {self.leak_shift}")
        need(is_int(self.frac_bits) and 1 <= self.frac_bits <= 15,
             f"frac_bits must be an integer from 1 to 15, got {self.frac_bits!r}")
        need(is_int(self.level_shift) and 0 <= self.level_shift < self.x_bits,
             f"level_shift must be from 0 to x_bits-1={self.x_bits - 1}, got {self.level_shift}")
        need(is_int(self.lfsr_seed) and 1 <= self.lfsr_seed <= nr.unsigned_max(nr.LFSR_BITS),
             f"lfsr_seed must be a non-zero {nr.LFSR_BITS}-bit value, got {self.lfsr_seed!r}")
        need(self.readout in READOUTS,
             f"unknown readout {self.readout!r}; choose one of {', '.join(READOUTS)}")
        need(is_int(self.readout_leak) and 0 <= self.readout_leak < self.logit_bits,
             f"readout_leak must be an integer from 0 (no leak) to logit_bits-1="
             f"{self.logit_bits - 1}, got {self.readout_leak!r}")
        need(self.readout == "integrator" or self.readout_leak == 0,
             f"readout_leak={self.readout_leak} needs readout='integrator' (only the "
             f"integrator readout leaks)")
        cell.validate(self, need)
        need(self.readout_sum_bound() < EXACT_SUM_LIMIT,
             f"its largest logit sum (about 2**{self.readout_sum_bound().bit_length()}) leaves the "
             f"exact int64 range of the golden model; lower w_bits or the sizes")
        for layer in range(len(self.hidden)):
            bound = self.gate_sum_bound(layer)
            need(bound < EXACT_SUM_LIMIT,
                 f"layer {layer}: its largest gate sum (about 2**{bound.bit_length()}, from w_bits "
                 f"{self.w_bits}, x_bits {self.x_bits} and the layer sizes) leaves the exact int64 "
                 f"range of the golden model; lower w_bits, x_bits or the sizes")
        need(self.golden_bytes() <= GOLDEN_BYTES_LIMIT,
             f"sizes M={self.inputs}, H={list(self.hidden)}, T={self.steps}, N={self.length} "
             f"would need about {self.golden_bytes() / (1 << 30):,.0f} GiB for the golden model "
             f"of one sequence; the limit is {GOLDEN_BYTES_LIMIT >> 30} GiB")

    def golden_bytes(self) -> int:
        """An upper estimate of the memory the golden model holds for one sequence: 16
        bytes per parameter (the int64 arrays and their exact float copies) and, per
        (element, step, neuron) of every layer, 8 bytes for h, each carried value and
        each recorded value of the cell (the traces, at the widest type they take)."""
        cell = self.cell_def()
        per_cell = 1 + len(cell.CARRY) + sum(_product(cell.record_shape(name)) for name in cell.RECORD)
        total = 16 * self.classes * (self.hidden[-1] + 1)
        for layer, h in enumerate(self.hidden):
            weights = cell.gates * h * (self.layer_inputs(layer) + h + 1)
            total += 16 * (weights + len(cell.MEMBRANES) * (h + 2))
            total += 8 * per_cell * self.length * self.steps * h
        return total

    # -- derived sizes ------------------------------------------------------------------
    def element_sum_bound(self) -> int:
        """The largest magnitude of one element's readout sum ``r(n)``: every h of the
        element at its largest magnitude, at every step, times the largest weight, plus
        the largest bias."""
        h_max = self.cell_def().h_max(self)  # 1 for a spike
        return h_max * self.steps * self.hidden[-1] * (1 << (self.w_bits - 1)) + (1 << (self.logit_bits - 1))

    @property
    def reads_every_element(self) -> bool:
        """Whether the readout reads the h of every element (integrator, element), not
        only the last element's."""
        return self.readout != "last"

    def readout_sum_bound(self) -> int:
        """The largest magnitude a logit sum can reach before its saturation: one
        element's (:meth:`element_sum_bound`) for the last-element readout; for the
        integrator, ``N`` integrator values, each below ``2**s * (r_max + 1)`` (the leak
        ``o - (o >> s)`` keeps at most ``1 - 2**-s`` of ``o`` plus one for the floor;
        ``s = 0``: ``o`` sums up to ``N`` elements)."""
        if self.readout != "integrator":
            return self.element_sum_bound()
        return self.integrator_bound() * self.length

    def integrator_bound(self) -> int:
        """The largest magnitude of the readout integrator ``o(n)``: below ``N * r_max``
        (``o(n)`` sums at most the first ``n + 1`` element sums) and, with a leak ``s``,
        below ``2**s * (r_max + 1)``."""
        r_max = self.element_sum_bound()
        o_max = r_max * self.length
        if self.readout_leak:
            o_max = min(o_max, (r_max + 1) << self.readout_leak)
        return o_max

    def readout_gain(self) -> float:
        """How much larger the logits are than one element's readout sum when that sum is
        the same at every element: 1 for the last-element readout; for the integrator,
        ``sum_n sum_{j<=n} a**j`` with ``a = 1 - 2**-readout_leak`` (1 for no leak).
        Training divides the logits by it, so that the loss sees one element's scale."""
        if self.readout != "integrator":
            return 1.0
        a = 1.0 - 2.0 ** -self.readout_leak if self.readout_leak else 1.0
        return float(sum(sum(a ** j for j in range(n + 1)) for n in range(self.length)))

    def gate_sum_bound(self, layer: int) -> int:
        """The largest magnitude a gate input sum of ``layer`` can reach before its
        saturation: every input and h at its largest magnitude times the largest weight,
        plus the largest bias."""
        w = 1 << (self.w_bits - 1)
        h_max = self.cell_def().h_max(self)  # 1 for a spike
        x_max = (1 << (self.x_bits - 1)) if (layer == 0 and self.encoding == "direct") else h_max
        return ((x_max * self.layer_inputs(layer) + h_max * self.hidden[layer]) * w
                + (1 << (self.acc_bits - 1)))

    @property
    def layers(self) -> int:
        return len(self.hidden)

    def layer_inputs(self, layer: int) -> int:
        """Input channels of a layer: the encoded input for layer 0, else H of the layer below."""
        if layer == 0:
            return 2 * self.inputs if self.encoding == "level" else self.inputs
        return self.hidden[layer - 1]

    @property
    def i_spiking(self) -> bool:
        return self.nonspiking != "i"

    @property
    def g_spiking(self) -> bool:
        return self.nonspiking != "g"

    @property
    def spiking_membranes(self) -> tuple[str, ...]:
        """Membranes that exist: the non-spiking gate has none."""
        return tuple(m for m in self.cell_def().MEMBRANES if m != self.nonspiking)

    def replace(self, **changes) -> "NetworkConfig":
        if changes.get("cell", self.cell) != self.cell and "leak_shift" not in changes:
            changes["leak_shift"] = None  # another cell: its own membranes, all IF
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        d["leak_shift"] = list(self.leak_shift)
        if self.readout == "last" and self.readout_leak == 0:
            # the default readout is left out: every configuration written before the
            # integrator existed keeps its dictionary, and so its digests
            del d["readout"], d["readout_leak"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "NetworkConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown configuration keys: {', '.join(unknown)}")
        return cls(**d)


def random_widths(cfg: NetworkConfig, rng, tries: int = 200) -> NetworkConfig:
    """``cfg`` with every declared width drawn uniformly from what validation accepts
    (:data:`WIDTH_RANGE`, ``acc_bits`` and ``logit_bits`` at least ``w_bits``, the
    LFSR's width for rate-coded ``x_bits``), and the shifts that depend on them redrawn
    inside their new ranges. A draw that validation refuses (a gate sum past the exact
    int64 range, a non-spiking gate wider than ``c_bits``) is drawn again. The random
    generators of the tests and of ``make cosim`` use it, so that they reach every width
    a user may configure (#18)."""
    lo, hi = WIDTH_RANGE
    last = None
    for _ in range(tries):
        w = int(rng.integers(lo, hi + 1))
        x_hi = nr.LFSR_BITS if cfg.encoding == "rate" else hi
        x = int(rng.integers(lo, x_hi + 1))
        acc = int(rng.integers(w, hi + 1))
        changes = dict(
            x_bits=x, w_bits=w, acc_bits=acc, u_bits=int(rng.integers(lo, hi + 1)),
            c_bits=int(rng.integers(lo, hi + 1)), logit_bits=int(rng.integers(w, hi + 1)),
            ns_bits=int(rng.integers(lo, hi + 1)), ns_shift=int(rng.integers(0, acc)),
            level_shift=int(rng.integers(0, x)))
        u = changes["u_bits"]
        changes["leak_shift"] = tuple(int(rng.integers(0, min(u, 4))) for _ in cfg.leak_shift)
        changes["frac_bits"] = int(rng.integers(1, 16))  # the cells that take no fraction ignore it
        try:
            return cfg.replace(**changes)
        except ConfigError as e:
            last = e
    raise ConfigError(f"no accepted widths for {cfg.name!r} in {tries} draws; the last: {last}")


def _is_integer(value) -> bool:
    """An int or a NumPy integer, not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _plain(value):
    """A NumPy integer as a Python int (anything else as it is)."""
    return int(value) if _is_integer(value) and not isinstance(value, int) else value


def _product(shape) -> int:
    out = 1
    for n in shape:
        out *= n
    return out


PRESETS: dict[str, NetworkConfig] = {
    "tiny": NetworkConfig(inputs=4, hidden=(8,), steps=2, length=5, classes=4, name="tiny"),
    "digits": NetworkConfig(inputs=8, hidden=(32,), steps=4, length=8, classes=10, name="digits"),
    "mnist1d": NetworkConfig(inputs=1, hidden=(64,), steps=4, length=40, classes=10, name="mnist1d"),
    "tmnist": NetworkConfig(inputs=32, hidden=(128,), steps=8, length=32, classes=10, name="tmnist"),
    "gsc": NetworkConfig(inputs=20, hidden=(128,), steps=4, length=81, classes=12, name="gsc"),
    "uci": NetworkConfig(inputs=9, hidden=(128,), steps=4, length=128, classes=6, name="uci"),
}


def preset(name: str, **changes) -> NetworkConfig:
    """A named preset, optionally with fields changed."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    cfg = PRESETS[name]
    return cfg.replace(**changes) if changes else cfg
