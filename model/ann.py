"""The non-spiking source model: an LSTM with hard (clipped) activations.

Each activation is the *rate* that the spiking neuron it converts into produces, so
that conversion (``model.convert``) is a copy plus a choice of scale::

    sigmoid gate a in (f, i, o):  a = clip(z / V_th, 0, 1)                 -> binary IF neuron
    tanh gate g (split):          g = clip(z / V_th+, 0, 1) - clip(-z / V_th-, 0, 1)
                                                                           -> ternary IF neuron
    c = sat(f * c_prev + i * g)
    h = o * tanh_c(c),   tanh_c split like g with V_th,c+ and V_th,c-      -> ternary IF on c
    logits = W_out . h(N-1) + b_out

``clip(z / V_th, 0, 1)`` is the hard sigmoid ``clip(z' / V_th + 1/2, 0, 1)`` with its
centre moved into the bias (z = z' + V_th / 2). The tanh is split into a positive and
a negative half, each with its own threshold (the two thresholds of the ternary neuron).

A gate kept non-spiking (``cfg.nonspiking``, selective conversion) uses the shape of
its quantized hardware function instead: i is the centred hard sigmoid
``clip(z / V_th + 1/2, 0, 1)``, g the symmetric hard tanh ``clip(z / V_th, -1, 1)``.

Inputs are per element (``[B, N, M_in]``): the spike rate of each input channel
(:func:`ann_inputs`), or for ``direct`` coding the features over ``2**(x_bits-1)``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from . import numerics as nr
from .config import NetworkConfig
from .encoding import encode

__all__ = ["HardLSTM", "ann_inputs", "input_unit", "c_unit", "split_tanh", "hard_sigmoid"]

_G, _C = nr.MEMBRANES.index("g"), nr.MEMBRANES.index("c")


def input_unit(cfg: NetworkConfig) -> float:
    """Value of one integer input unit in ANN units (1 for spikes, 2**-(x_bits-1) for direct)."""
    return 2.0 ** -(cfg.x_bits - 1) if cfg.encoding == "direct" else 1.0


def c_unit(cfg: NetworkConfig) -> int:
    """Integer cell-state units per ANN unit of c: ``i*g`` adds 1 when both gates spike,
    up to the top level of the non-spiking gate otherwise."""
    if cfg.nonspiking == "i":
        return nr.hard_sigmoid_max(cfg.ns_bits)
    if cfg.nonspiking == "g":
        return nr.hard_tanh_max(cfg.ns_bits)
    return 1


def ann_inputs(cfg: NetworkConfig, x_int: np.ndarray) -> np.ndarray:
    """Per-element ANN input ``[B, N, M_in]`` for raw integer inputs of ``cfg.encoding``.

    ``rate``: the expected spike rate ``x / 2**x_bits`` (a channel spikes when a uniform
    ``x_bits`` draw is below x), independent of T. ``level`` and ``spikes``: the mean
    over the T steps of the encoded spikes. ``direct``: ``x * 2**-(x_bits-1)``.
    """
    x_int = np.asarray(x_int)
    if cfg.encoding == "rate":
        return x_int / float(1 << cfg.x_bits)
    if cfg.encoding == "direct":
        return x_int * input_unit(cfg)
    return encode(cfg, x_int).astype(np.float64).mean(axis=2)


def hard_sigmoid(z, theta):
    return torch.clamp(z / theta, 0.0, 1.0)


def split_tanh(z, theta_pos, theta_neg):
    """Hard tanh with separate positive and negative thresholds (the ternary neuron's rate)."""
    return torch.clamp(z / theta_pos, 0.0, 1.0) - torch.clamp(-z / theta_neg, 0.0, 1.0)


#: How a ``HardLSTM`` starts unless told otherwise (``model.train.DATASET_INIT`` overrides
#: it per dataset): f's bias, and the factor on the first layer's input weight bound.
START = {"forget_bias": 0.75, "input_gain": 1.0}


class HardLSTM(nn.Module):
    """LSTM with hard activations and trainable thresholds, shaped like ``cfg``.

    Parameters per layer: ``w_x[4, H, M_in]``, ``w_h[4, H, H]``, ``bias[4, H]`` (gate
    order f, i, o, g) and thresholds ``theta_pos[5]``, ``theta_neg[5]`` (membrane order
    f, i, o, g, c; theta_neg is used by g and c). ``c`` saturates at the value that
    ``c_bits`` can hold, like the integer model.
    """

    def __init__(self, cfg: NetworkConfig, seed: int = 0, *,
                 forget_bias: float = START["forget_bias"], input_gain: float = START["input_gain"]):
        """``forget_bias``: the start value of f's bias, so f starts at that rate (a long
        sequence needs it near 1 to carry c across its elements); ``input_gain``: a factor
        on the input weights' uniform bound ``1/sqrt(H)`` (one input channel needs more
        than H inputs do)."""
        super().__init__()
        self.cfg = cfg
        gen = torch.Generator().manual_seed(seed)
        self.layers = nn.ModuleList()
        for l, h in enumerate(cfg.hidden):
            m = cfg.layer_inputs(l)
            bound = 1.0 / np.sqrt(h)
            layer = nn.Module()
            gain = input_gain if l == 0 else 1.0
            layer.w_x = nn.Parameter((torch.rand(4, h, m, generator=gen) * 2 - 1) * bound * gain)
            layer.w_h = nn.Parameter((torch.rand(4, h, h, generator=gen) * 2 - 1) * bound)
            bias = torch.zeros(4, h)
            for a, gate in enumerate(nr.GATES):  # start inside the linear region
                if gate == cfg.nonspiking or gate == "g":
                    continue
                bias[a] = forget_bias if gate == "f" else 0.5
            layer.bias = nn.Parameter(bias)
            layer.theta_pos = nn.Parameter(torch.ones(5))
            layer.theta_neg = nn.Parameter(torch.ones(5))
            self.layers.append(layer)
        bound = 1.0 / np.sqrt(cfg.hidden[-1])
        self.w_out = nn.Parameter((torch.rand(cfg.classes, cfg.hidden[-1], generator=gen) * 2 - 1) * bound)
        self.b_out = nn.Parameter(torch.zeros(cfg.classes))

    def thresholds(self, l: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Positive thresholds in use: at least 1e-3, and for c at least one integer unit."""
        p = self.layers[l]
        floor = torch.full((5,), 1e-3)
        floor[_C] = 1.0 / c_unit(self.cfg)
        return torch.maximum(p.theta_pos, floor), torch.maximum(p.theta_neg, floor)

    def gate(self, l: int, a: int, z: torch.Tensor) -> torch.Tensor:
        """Activation of gate ``a`` (index into GATES) of layer ``l``."""
        cfg, gate = self.cfg, nr.GATES[a]
        tp, tn = self.thresholds(l)
        if gate == cfg.nonspiking:
            if gate == "i":
                return torch.clamp(z / tp[a] + 0.5, 0.0, 1.0)
            return torch.clamp(z / tp[a], -1.0, 1.0)
        if gate == "g":
            return split_tanh(z, tp[a], tn[a])
        return hard_sigmoid(z, tp[a])

    def forward(self, x: torch.Tensor) -> dict:
        """``x [B, N, M_in]`` -> ``logits [B, C]`` and per layer ``z``, ``gates``, ``c``, ``h``."""
        cfg = self.cfg
        c_max = nr.signed_range(cfg.c_bits)[1] / c_unit(cfg)
        layers = []
        for l, p in enumerate(self.layers):
            b, n_len = x.shape[0], x.shape[1]
            h_size = cfg.hidden[l]
            tp, tn = self.thresholds(l)
            x_part = torch.einsum("bnm,ahm->bnah", x, p.w_x)
            h = x.new_zeros(b, h_size)
            c = x.new_zeros(b, h_size)
            zs, gs, cs, hs = [], [], [], []
            for n in range(n_len):
                z = x_part[:, n] + torch.einsum("bj,ahj->bah", h, p.w_h) + p.bias
                f, i, o, g = (self.gate(l, a, z[:, a]) for a in range(4))
                c = torch.clamp(f * c + i * g, -c_max, c_max)
                h = o * split_tanh(c, tp[_C], tn[_C])
                zs.append(z)
                gs.append(torch.stack([f, i, o, g], dim=1))
                cs.append(c)
                hs.append(h)
            out = {"z": torch.stack(zs, 1), "gates": torch.stack(gs, 1),
                   "c": torch.stack(cs, 1), "h": torch.stack(hs, 1)}
            layers.append(out)
            x = out["h"]
        logits = x[:, -1] @ self.w_out.T + self.b_out
        return {"logits": logits, "layers": layers}
