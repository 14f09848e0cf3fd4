"""ANN-to-SNN conversion: the hard-activation LSTM becomes a spiking LSTM in integer units.

The spiking model (:class:`model.float_twin.FloatSpikingLSTM`) keeps its parameters in
the golden model's units, so conversion picks one scale per gate and multiplies::

    s_a       = 2**(w_bits-1) - 1 over the largest |weight| of gate a   (spiking gates)
    w_a, b_a  -> s_a * w_a, s_a * b_a;      V_th,a -> s_a * V_th,a

Over T steps an IF neuron with constant input z fires ``floor(T z / V_th)`` times; a
bias shift of ``V_th / 2T`` per step turns that floor into a rounding and halves the
conversion error (Deng & Gu; Datta et al.). The shifts:

* sigmoid gates f, i, o (binary IF):    ``+V_th / 2T``;
* tanh gate g (ternary IF):             ``+V_th+ / 2T`` on the positive side,
                                        ``-V_th- / 2T`` on the negative side;
* tanh of c (ternary IF on c, no bias): ``+V_th,c+ / 2`` or ``-V_th,c- / 2`` in U0
  (T steps of ``V_th / 2T``).

A ternary neuron has one membrane, so it takes the shift of the side its input lies on:
the sign of the neuron's mean pre-activation on calibration data (without data: the sign
of the gate bias for g, positive for c). ``shift_in="u0"`` puts every gate's shift into
the start value instead (``U0 = T * V_th / 2T = V_th / 2``), which is the same for an IF
neuron with constant input.

Selective conversion: the gate named by ``cfg.nonspiking`` stays multi-bit. Its scale is
fixed by the quantized hardware function (``numerics.hard_sigmoid_q`` / ``hard_tanh_q``)::

    i:  s = 2**ns_shift * (2**ns_bits - 1) / V_th,i      (top level 2**ns_bits - 1 is 1.0)
    g:  s = 2**ns_shift * (2**(ns_bits-1) - 1) / V_th,g, bias + 2**ns_shift / 2 (rounding)

and c is then counted in units of that top level (``model.ann.c_unit``). The readout
sums h over the T steps, so ``b_out`` is scaled by ``T`` as well.

The converted model is real-valued; fine-tuning and quantization-aware training
(``model.train``) make it integer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from . import numerics as nr
from .ann import HardLSTM, c_unit, input_unit
from .config import ConfigError, NetworkConfig
from .float_twin import FloatSpikingLSTM

__all__ = ["Conversion", "convert", "bias_shifts", "check_compatible"]

_G, _C = nr.MEMBRANES.index("g"), nr.MEMBRANES.index("c")
_SHAPE_FIELDS = ("inputs", "hidden", "length", "classes", "encoding", "nonspiking",
                 "ns_bits", "ns_shift", "x_bits", "level_shift", "lfsr_seed")


@dataclass
class Conversion:
    """The converted spiking model and the scales that relate it to the ANN."""

    model: FloatSpikingLSTM
    gate_scales: list[list[float]]        # per layer, per gate: integer units per ANN unit of z
    c_unit: int                           # integer units of c per ANN unit
    readout_scale: float                  # integer units of w_out per ANN unit
    logit_temperature: float              # multiply integer logits by this for the ANN's logits
    shifts: list[dict] = field(default_factory=list)  # per layer: the applied shifts (ANN units)

    def to_dict(self) -> dict:
        return {"gate_scales": self.gate_scales, "c_unit": self.c_unit,
                "readout_scale": self.readout_scale, "logit_temperature": self.logit_temperature}


def check_compatible(ann_cfg: NetworkConfig, cfg: NetworkConfig) -> None:
    """The ANN and the spiking configuration must agree on everything but T and widths."""
    bad = [f"{f}: ANN {getattr(ann_cfg, f)!r}, SNN {getattr(cfg, f)!r}"
           for f in _SHAPE_FIELDS if getattr(ann_cfg, f) != getattr(cfg, f)]
    if bad:
        raise ConfigError("cannot convert: the configurations differ in " + "; ".join(bad))


def bias_shifts(theta_pos, theta_neg, steps: int, sign_g=None, sign_c=None) -> dict:
    """Per-neuron bias shifts of the conversion, in the units of the thresholds.

    ``theta_pos``/``theta_neg``: the 5 thresholds (f, i, o, g, c). ``sign_g``/``sign_c``:
    per-neuron sign (+1 / -1) of the input of the ternary g and c neurons. Returns
    ``{"gate": [4][H] shift per step, "c": [H] shift of U0_c (for all T steps)}``.
    """
    theta_pos = np.asarray(theta_pos, np.float64)
    theta_neg = np.asarray(theta_neg, np.float64)
    sign_g = np.asarray(sign_g if sign_g is not None else [1.0])
    sign_c = np.asarray(sign_c if sign_c is not None else [1.0])
    h = max(sign_g.size, sign_c.size)
    gate = np.zeros((4, h))
    for a in range(3):  # f, i, o: binary
        gate[a] = theta_pos[a] / (2 * steps)
    gate[_G] = np.where(np.broadcast_to(sign_g, (h,)) >= 0,
                        theta_pos[_G] / (2 * steps), -theta_neg[_G] / (2 * steps))
    c = np.where(np.broadcast_to(sign_c, (h,)) >= 0, theta_pos[_C] / 2, -theta_neg[_C] / 2)
    return {"gate": gate, "c": c}


@torch.no_grad()
def convert(ann: HardLSTM, cfg: NetworkConfig, calib: torch.Tensor | None = None, *,
            shift: bool = True, shift_in: str = "bias", gamma: float = 0.3) -> Conversion:
    """Convert ``ann`` to a spiking model for ``cfg`` (T may differ from the ANN's).

    ``calib``: ANN inputs ``[B, N, M_in]`` used to pick the side of each ternary
    neuron's shift. ``shift=False`` converts without bias shifts (for comparison).
    """
    check_compatible(ann.cfg, cfg)
    if shift_in not in ("bias", "u0"):
        raise ValueError(f"shift_in must be 'bias' or 'u0', got {shift_in!r}")
    w_hi = nr.signed_range(cfg.w_bits)[1]
    u_hi = nr.signed_range(cfg.u_bits)[1]
    steps = cfg.steps
    cu = c_unit(cfg)
    stats = ann(calib) if calib is not None else None
    snn = FloatSpikingLSTM(cfg, gamma=gamma)
    gate_scales, applied = [], []
    for l, (src, dst) in enumerate(zip(ann.layers, snn.layers)):
        tp, tn = (t.double().numpy() for t in ann.thresholds(l))
        w_x = src.w_x.double().numpy() * (input_unit(cfg) if l == 0 else 1.0)
        w_h = src.w_h.double().numpy()
        bias = src.bias.double().numpy()
        h_size = cfg.hidden[l]
        if stats is not None:
            sign_g = np.sign(stats["layers"][l]["z"][:, :, _G].double().mean(dim=(0, 1)).numpy())
            sign_c = np.sign(stats["layers"][l]["c"].double().mean(dim=(0, 1)).numpy())
        else:
            sign_g, sign_c = np.sign(bias[_G]), np.ones(h_size)
        sh = bias_shifts(tp, tn, steps, sign_g, sign_c) if shift else \
            {"gate": np.zeros((4, h_size)), "c": np.zeros(h_size)}
        theta_pos, theta_neg = np.ones(5), np.ones(5)
        u0 = np.zeros((5, h_size))
        scales = []
        for a, gate in enumerate(nr.GATES):
            peak = max(np.abs(w_x[a]).max(initial=0.0), np.abs(w_h[a]).max(initial=0.0))
            if gate == cfg.nonspiking:
                top = nr.hard_sigmoid_max(cfg.ns_bits) if gate == "i" else nr.hard_tanh_max(cfg.ns_bits)
                s = (1 << cfg.ns_shift) * top / tp[a]
                offset = 0.0 if gate == "i" else (1 << cfg.ns_shift) / 2
                b = s * bias[a] + offset
            else:
                s = w_hi / peak if peak > 0 else w_hi / tp[a]
                s = min(s, u_hi / tp[a], u_hi / tn[a] if gate == "g" else np.inf)
                theta_pos[a] = s * tp[a]
                theta_neg[a] = s * (tn[a] if gate == "g" else tp[a])
                if shift_in == "bias":
                    b = s * (bias[a] + sh["gate"][a])
                else:
                    b = s * bias[a]
                    u0[a] = s * sh["gate"][a] * steps
            dst.w_x[a] = torch.as_tensor(s * w_x[a], dtype=dst.w_x.dtype)
            dst.w_h[a] = torch.as_tensor(s * w_h[a], dtype=dst.w_h.dtype)
            dst.bias[a] = torch.as_tensor(b, dtype=dst.bias.dtype)
            scales.append(float(s))
        theta_pos[_C], theta_neg[_C] = cu * tp[_C], cu * tn[_C]
        u0[_C] = cu * sh["c"]
        dst.theta_pos.copy_(torch.as_tensor(theta_pos))
        dst.theta_neg.copy_(torch.as_tensor(theta_neg))
        dst.u0.copy_(torch.as_tensor(u0))
        gate_scales.append(scales)
        applied.append({"gate": sh["gate"].tolist(), "c": sh["c"].tolist()})
    w_out = ann.w_out.double().numpy()
    peak = np.abs(w_out).max(initial=0.0)
    s_out = w_hi / peak if peak > 0 else 1.0
    snn.w_out.copy_(torch.as_tensor(s_out * w_out))
    snn.b_out.copy_(torch.as_tensor(s_out * steps * ann.b_out.double().numpy()))
    return Conversion(snn, gate_scales, cu, float(s_out), float(1.0 / (s_out * steps)), applied)
