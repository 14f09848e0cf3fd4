"""Float twin of the golden model: the same forward arithmetic on PyTorch tensors.

The twin drives the configured cell's ``step`` (:mod:`model.cells`), the same function
the golden model calls, on the rules in :mod:`model.numerics`, so with integer-valued weights,
biases, start values and thresholds the twin reproduces the golden model's spikes
exactly (floors are exact in floating point, and saturation is a clamp). Spikes go
through :class:`SpikeStep`, a Heaviside step whose backward pass is the surrogate
gradient of Datta et al.::

    dS/dU = gamma / V_th * max(0, 1 - |U / V_th - 1|)

Floors use straight-through gradients. Training (conversion, fine-tuning,
quantization-aware steps) builds on this module through two optional hooks that leave
the default forward pass untouched:

* ``leak_factor`` (a parameter of one factor per membrane, Datta: f, i, o, g, c): while it
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
from .cells import TorchOps
from .config import NetworkConfig
from .params import LayerParams, NetworkParams

__all__ = ["SpikeStep", "GaussianSpikeStep", "GaussianExcessStep", "SURROGATES", "spike_step", "FloatSpikingLSTM"]


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
        return _step_grads(ctx, grad_out * ctx.gamma / theta * torch.clamp(1 - torch.abs(excess / theta), min=0))


def _step_grads(ctx, grad):
    """A spike step's gradients from ``grad`` (the incoming gradient times the surrogate):
    to the excess, to the threshold (the opposite, summed to its shape) and none to gamma."""
    theta = ctx.saved_tensors[1]
    grad_theta = None
    if ctx.needs_input_grad[1]:
        grad_theta = (-grad).sum_to_size(theta.shape) if theta.dim() else -grad.sum()
    return grad, grad_theta, None


class GaussianSpikeStep(SpikeStep):
    """Heaviside of ``excess = U - V_th`` (the forward pass of :class:`SpikeStep`) with the
    surrogate of Lotfi Rezaabad & Vishwanath: a Gaussian of ``|U| - |V_th|``, here with
    the spread ``V_th / 2`` and the peak ``gamma / V_th`` of the triangle (so one ``gamma``
    suits both)::

        dS/dU = gamma / V_th * exp(-2 * ((|U| - |V_th|) / V_th)**2)
    """

    @staticmethod
    def backward(ctx, grad_out):
        excess, theta = ctx.saved_tensors
        a = torch.abs(theta)
        distance = (torch.abs(excess + theta) - a) / a
        return _step_grads(ctx, grad_out * ctx.gamma / a * torch.exp(-2 * distance * distance))


class GaussianExcessStep(SpikeStep):
    """Heaviside of ``excess = U - V_th`` with a Gaussian of the excess itself, the
    surrogate of Yin, Corradi & Bohte's adaptive spiking RNN, with the spread ``V_th / 2``
    and the peak ``gamma / V_th`` of the triangle (``V_th`` may be a tensor: the adaptive
    threshold of every neuron)::

        dS/dU = gamma / V_th * exp(-2 * ((U - V_th) / V_th)**2)
    """

    @staticmethod
    def backward(ctx, grad_out):
        excess, theta = ctx.saved_tensors
        a = torch.abs(theta)
        distance = excess / a
        return _step_grads(ctx, grad_out * ctx.gamma / a * torch.exp(-2 * distance * distance))


#: the surrogate gradients a cell may name (``model.cells.Cell.SURROGATE``)
SURROGATES = {"triangle": SpikeStep, "gaussian": GaussianSpikeStep,
              "gaussian_excess": GaussianExcessStep}


def spike_step(gamma: float = 0.3, surrogate: str = "triangle"):
    """A ``step(excess, theta)`` callable for :func:`model.numerics.fire_binary`, with
    the named surrogate gradient (:data:`SURROGATES`)."""
    fn = SURROGATES[surrogate]
    return lambda excess, theta: fn.apply(excess, theta, gamma)


class FloatSpikingLSTM(nn.Module):
    """A network of the configured cell on real numbers with the golden model's forward
    pass (the name is historical: any cell of :mod:`model.cells` runs here).

    Parameters are stored in the golden model's units (integer units, in floats), so
    :meth:`from_params` is a plain copy. Saturation bounds come from ``cfg``.
    """

    def __init__(self, cfg: NetworkConfig, gamma: float = 0.3, dtype=torch.float32):
        super().__init__()
        self.cfg = cfg
        self.cell = cfg.cell_def()
        self.gamma = gamma
        self.layers = nn.ModuleList()
        for l in range(cfg.layers):
            layer = nn.Module()
            for spec in self.cell.params:
                start = torch.ones if spec.role == "constant" else torch.zeros
                setattr(layer, spec.name, nn.Parameter(start(spec.shape(self.cell, cfg, l), dtype=dtype)))
            self.layers.append(layer)
        self.w_out = nn.Parameter(torch.zeros(cfg.classes, cfg.hidden[-1], dtype=dtype))
        self.b_out = nn.Parameter(torch.zeros(cfg.classes, dtype=dtype))
        self.leak_factor: nn.Parameter | None = None
        self.param_hook = None

    def enable_trainable_leak(self, factors=None) -> nn.Parameter:
        """Replace the configured leak shifts by one trainable real factor per membrane
        (training only)."""
        if factors is None:
            factors = [1.0 if s == 0 else 1.0 - 2.0 ** -s for s in self.cfg.leak_shift]
        self.leak_factor = nn.Parameter(torch.as_tensor(factors, dtype=self.w_out.dtype).clone())
        return self.leak_factor

    def _param(self, name: str, value: torch.Tensor) -> torch.Tensor:
        return value if self.param_hook is None else self.param_hook(name, value)

    @torch.no_grad()
    def read_params(self) -> NetworkParams:
        """Every parameter as the forward pass reads it (after ``param_hook``) as integer
        :class:`NetworkParams`, checked against the configuration; with a hook that
        rounds, these are the integers the golden model runs exactly."""
        ints = {name: self._param(name, p).numpy().astype(np.int64)
                for name, p in self.named_parameters() if name != "leak_factor"}
        layers = [LayerParams(**{s.name: ints[f"layers.{l}.{s.name}"] for s in self.cell.params})
                  for l in range(self.cfg.layers)]
        return NetworkParams(layers, ints["w_out"], ints["b_out"]).validate(self.cfg)

    @classmethod
    def from_params(cls, cfg: NetworkConfig, params: NetworkParams, **kwargs) -> "FloatSpikingLSTM":
        model = cls(cfg, **kwargs)
        dtype = model.w_out.dtype
        with torch.no_grad():
            for layer, lp in zip(model.layers, params.layers):
                for spec in model.cell.params:
                    getattr(layer, spec.name).copy_(
                        torch.as_tensor(np.asarray(getattr(lp, spec.name)), dtype=dtype))
            model.w_out.copy_(torch.as_tensor(params.w_out, dtype=dtype))
            model.b_out.copy_(torch.as_tensor(params.b_out, dtype=dtype))
        return model

    def _layer(self, l: int, x: torch.Tensor) -> dict:
        """Run layer ``l`` on ``x [B, N, T, M_in]``; returns the per-cell outputs."""
        cfg, cell, layer = self.cfg, self.cell, self.layers[l]
        p = SimpleNamespace(**{  # the parameters as this pass reads them (after param_hook)
            spec.name: self._param(f"layers.{l}.{spec.name}", getattr(layer, spec.name))
            for spec in cell.params})
        b, big_n, big_t, _ = x.shape
        h_size = cfg.hidden[l]
        ops = TorchOps(cfg, spike_step(self.gamma, cell.SURROGATE), self.leak_factor)
        start = cell.by_role("start")
        u0 = getattr(p, start[0].name) if start else x.new_zeros(0, h_size)
        x_part = torch.einsum("bntm,ahm->bntah", x, p.w_x)
        h_prev = x.new_zeros(b, big_t, h_size)
        carry_prev = [x.new_zeros(b, big_t, h_size) for _ in cell.CARRY]
        hs, carries, records = [], [[] for _ in cell.CARRY], {name: [] for name in cell.RECORD}
        for n in range(big_n):
            z = x_part[:, n] + torch.einsum("bth,ajh->btaj", h_prev, p.w_h) + p.bias
            z = nr.saturate(z, cfg.acc_bits)
            u = u0.expand(b, *u0.shape)
            h_row, carry_row, rec_row = [], [[] for _ in cell.CARRY], {name: [] for name in cell.RECORD}
            for k in range(big_t):
                u, carry, h, record = cell.step(cfg, p, z[:, k], u,
                                                tuple(c[:, k] for c in carry_prev), ops)
                h_row.append(h)
                for row, value in zip(carry_row, carry):
                    row.append(value)
                for name, value in record.items():
                    rec_row[name].append(value)
            h_prev = torch.stack(h_row, dim=1)
            carry_prev = [torch.stack(row, dim=1) for row in carry_row]
            hs.append(h_prev)
            for all_n, value in zip(carries, carry_prev):
                all_n.append(value)
            for name, row in rec_row.items():
                records[name].append(torch.stack(row, dim=1))
        out = {name: torch.stack(v, dim=1) for name, v in records.items()}
        for (name, _), values in zip(cell.CARRY, carries):
            out.setdefault(name, torch.stack(values, dim=1))
        out["h"] = torch.stack(hs, dim=1)
        return out

    def forward(self, x: torch.Tensor) -> dict:
        """``x``: encoded input, ``[B, N, T, M_in]`` spikes or ``[B, N, M]`` direct features.

        Returns a dict with ``logits [B, C]`` (the last element's, or the integrator's
        with ``readout="integrator"``), ``element_logits
        [B, N, C]`` and ``layers`` (per-layer dicts of ``h`` and the cell's record,
        Datta: ``c``, ``s_c``, ``gates``).
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
        raw = summed @ w_out.T + b_out
        element_logits = nr.saturate(raw, cfg.logit_bits)
        if cfg.readout == "integrator":  # as model.golden.readout
            logits = nr.saturate(nr.integrated_sum(raw, cfg.readout_leak), cfg.logit_bits)
        else:
            logits = element_logits[:, -1]
        return {"logits": logits, "element_logits": element_logits, "layers": layers}
