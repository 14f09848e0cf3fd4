"""Float twin of the golden model: the same forward arithmetic on PyTorch tensors.

Every step calls the rules in :mod:`model.numerics`, so with integer-valued weights,
biases, start values and thresholds the twin reproduces the golden model's spikes
exactly (floors are exact in floating point, and saturation is a clamp). Spikes go
through :class:`SpikeStep`, a Heaviside step whose backward pass is the surrogate
gradient of Datta et al.::

    dS/dU = gamma / V_th * max(0, 1 - |U / V_th - 1|)

Floors use straight-through gradients. Training (conversion, fine-tuning,
quantization-aware steps) builds on this module through two optional hooks that leave
the default forward pass untouched:

* ``leak_factor`` (a parameter of 5 factors, one per membrane f, i, o, g, c): while it
  is set, the membranes leak as ``sat(lambda * U + z)`` with a real ``lambda`` clamped
  to [1/2, 1] (training only; the exported model rounds each lambda to the nearest
  ``U - (U >> s)`` form, see ``model.train.leak_to_shift``);
* ``param_hook(name, tensor)``: applied to every parameter when the forward pass reads
  it (``"layers.0.w_x"``, ..., ``"w_out"``, ``"b_out"``), for fake quantization.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

from . import numerics as nr
from .config import NetworkConfig
from .params import NetworkParams

__all__ = ["SpikeStep", "spike_step", "FloatSpikingLSTM"]


class SpikeStep(torch.autograd.Function):
    """Heaviside of ``excess = U - V_th`` (1 when > 0) with the triangular surrogate."""

    @staticmethod
    def forward(ctx, excess, theta, gamma):
        theta = torch.as_tensor(theta, dtype=excess.dtype, device=excess.device)
        ctx.save_for_backward(excess, theta)
        ctx.gamma = gamma
        return (excess > 0).to(excess.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        excess, theta = ctx.saved_tensors
        # U / V_th - 1 == excess / V_th
        surrogate = ctx.gamma / theta * torch.clamp(1 - torch.abs(excess / theta), min=0)
        grad = grad_out * surrogate
        grad_theta = None
        if ctx.needs_input_grad[1]:
            grad_theta = (-grad).sum_to_size(theta.shape) if theta.dim() else -grad.sum()
        return grad, grad_theta, None


def spike_step(gamma: float = 0.3):
    """A ``step(excess, theta)`` callable for :func:`model.numerics.fire_binary`."""
    return lambda excess, theta: SpikeStep.apply(excess, theta, gamma)


class FloatSpikingLSTM(nn.Module):
    """Spiking LSTM network on real numbers with the golden model's forward pass.

    Parameters are stored in the golden model's units (integer units, in floats), so
    :meth:`from_params` is a plain copy. Saturation bounds come from ``cfg``.
    """

    def __init__(self, cfg: NetworkConfig, gamma: float = 0.3, dtype=torch.float32):
        super().__init__()
        self.cfg = cfg
        self.gamma = gamma
        self.layers = nn.ModuleList()
        for l, h in enumerate(cfg.hidden):
            m = cfg.layer_inputs(l)
            layer = nn.Module()
            layer.w_x = nn.Parameter(torch.zeros(4, h, m, dtype=dtype))
            layer.w_h = nn.Parameter(torch.zeros(4, h, h, dtype=dtype))
            layer.bias = nn.Parameter(torch.zeros(4, h, dtype=dtype))
            layer.u0 = nn.Parameter(torch.zeros(5, h, dtype=dtype))
            layer.theta_pos = nn.Parameter(torch.ones(5, dtype=dtype))
            layer.theta_neg = nn.Parameter(torch.ones(5, dtype=dtype))
            self.layers.append(layer)
        self.w_out = nn.Parameter(torch.zeros(cfg.classes, cfg.hidden[-1], dtype=dtype))
        self.b_out = nn.Parameter(torch.zeros(cfg.classes, dtype=dtype))
        self.leak_factor: nn.Parameter | None = None
        self.param_hook = None

    def enable_trainable_leak(self, factors=None) -> nn.Parameter:
        """Replace the configured leak shifts by 5 trainable real factors (training only)."""
        if factors is None:
            factors = [1.0 if s == 0 else 1.0 - 2.0 ** -s for s in self.cfg.leak_shift]
        self.leak_factor = nn.Parameter(torch.as_tensor(factors, dtype=self.w_out.dtype).clone())
        return self.leak_factor

    def _param(self, name: str, value: torch.Tensor) -> torch.Tensor:
        return value if self.param_hook is None else self.param_hook(name, value)

    def _membrane(self, m: int, u, z):
        """Leak, add, saturate membrane ``m`` (index into MEMBRANES)."""
        if self.leak_factor is None:
            return nr.membrane_update(u, z, self.cfg.leak_shift[m], self.cfg.u_bits)
        return nr.saturate(self.leak_factor[m].clamp(0.5, 1.0) * u + z, self.cfg.u_bits)

    @classmethod
    def from_params(cls, cfg: NetworkConfig, params: NetworkParams, **kwargs) -> "FloatSpikingLSTM":
        model = cls(cfg, **kwargs)
        dtype = model.w_out.dtype
        with torch.no_grad():
            for layer, lp in zip(model.layers, params.layers):
                for name in ("w_x", "w_h", "bias", "u0", "theta_pos", "theta_neg"):
                    getattr(layer, name).copy_(torch.as_tensor(np.asarray(getattr(lp, name)), dtype=dtype))
            model.w_out.copy_(torch.as_tensor(params.w_out, dtype=dtype))
            model.b_out.copy_(torch.as_tensor(params.b_out, dtype=dtype))
        return model

    def _layer(self, l: int, x: torch.Tensor) -> dict:
        """Run layer ``l`` on ``x [B, N, T, M_in]``; returns the per-cell outputs."""
        cfg, layer = self.cfg, self.layers[l]
        p = SimpleNamespace(**{  # the parameters as this pass reads them (after param_hook)
            name: self._param(f"layers.{l}.{name}", getattr(layer, name))
            for name in ("w_x", "w_h", "bias", "u0", "theta_pos", "theta_neg")})
        b, big_n, big_t, _ = x.shape
        h_size = cfg.hidden[l]
        step = spike_step(self.gamma)
        x_part = torch.einsum("bntm,ahm->bntah", x, p.w_x)
        h_prev = x.new_zeros(b, big_t, h_size)
        c_prev = x.new_zeros(b, big_t, h_size)
        hs, cs, scs, gate_out = [], [], [], []
        for n in range(big_n):
            z = x_part[:, n] + torch.einsum("bth,ajh->btaj", h_prev, p.w_h) + p.bias
            z = nr.saturate(z, cfg.acc_bits)
            u = [p.u0[a].expand(b, h_size) for a in range(5)]
            h_row, c_row, sc_row, g_row = [], [], [], []
            for k in range(big_t):
                outs = []
                for a, gate in enumerate(nr.GATES):
                    za = z[:, k, a]
                    if gate == cfg.nonspiking:
                        fn = nr.hard_sigmoid_q if gate == "i" else nr.hard_tanh_q
                        outs.append(fn(za, cfg.ns_shift, cfg.ns_bits))
                        continue
                    v = self._membrane(a, u[a], za)
                    if gate == "g":
                        spike, u[a] = nr.fire_ternary(v, p.theta_pos[a], p.theta_neg[a], step)
                    else:
                        spike, u[a] = nr.fire_binary(v, p.theta_pos[a], step)
                    outs.append(spike)
                f, i, o, g = outs
                ig = nr.gate_product(i, g, cfg.i_spiking)
                c = nr.c_update(f, c_prev[:, k], ig, cfg.c_bits)
                vc = self._membrane(4, u[4], c)
                s_c, u[4] = nr.fire_ternary(vc, p.theta_pos[4], p.theta_neg[4], step)
                h_row.append(nr.h_output(o, s_c))
                c_row.append(c)
                sc_row.append(s_c)
                g_row.append(torch.stack(outs, dim=1))
            h_prev = torch.stack(h_row, dim=1)
            c_prev = torch.stack(c_row, dim=1)
            hs.append(h_prev)
            cs.append(c_prev)
            scs.append(torch.stack(sc_row, dim=1))
            gate_out.append(torch.stack(g_row, dim=1))
        return {"h": torch.stack(hs, dim=1), "c": torch.stack(cs, dim=1),
                "s_c": torch.stack(scs, dim=1), "gates": torch.stack(gate_out, dim=1)}

    def forward(self, x: torch.Tensor) -> dict:
        """``x``: encoded input, ``[B, N, T, M_in]`` spikes or ``[B, N, M]`` direct features.

        Returns a dict with ``logits [B, C]`` (last element), ``element_logits
        [B, N, C]`` and ``layers`` (per-layer dicts of ``h``, ``c``, ``s_c``, ``gates``).
        """
        cfg = self.cfg
        if x.dim() == 3:
            x = x[:, :, None, :].expand(-1, -1, cfg.steps, -1)
        layers = []
        for l in range(cfg.layers):
            out = self._layer(l, x)
            layers.append(out)
            x = out["h"]
        summed = x.sum(dim=2)  # over the T steps
        w_out, b_out = self._param("w_out", self.w_out), self._param("b_out", self.b_out)
        element_logits = nr.saturate(summed @ w_out.T + b_out, cfg.logit_bits)
        return {"logits": element_logits[:, -1], "element_logits": element_logits, "layers": layers}
