"""Hardware twins of the cells in :mod:`model.cells`, one module per cell, same name.

``hw/cells/<name>.py`` defines ``STEP``: a :class:`amaranth.lib.wiring.Component` class,
the pipelined hardware step of Q neurons of the cell ``model/cells/<name>.py``::

    STEP(cfg, *, neurons, z_bits, pipelined=False, **constants)

``constants`` are the cell's ``constant`` parameters of the layer (lists of ints, as
:func:`model.cells.constants` gives them). ``STEP.LATENCY`` is its number of register
stages when pipelined: the outputs of a chunk belong to the inputs presented that many
cycles earlier. Its signature is :func:`step_signature`'s:

* ``z`` (in, ``[Q][G]``): exact gate sums (the step saturates them to ``acc_bits``);
* ``u_prev`` (in, ``[Q][S]``): membranes after step k-1 (or the start values);
* ``carry_prev`` (in, ``[Q]`` of :func:`carry_layout`): the carried values of element
  n-1 at step k (zero for n = 0);
* ``u``, ``carry`` (out): the same after this step; ``h`` (out, ``[Q]``, signed
  ``Cell.h_bits`` bits: 2 for a spike);

and any outputs of its own besides (the Datta step shows each gate's value). The shared
layer (:mod:`hw.neuron_stage`) holds the state memories, the start-value memory and the
carry stores these ports describe, and nothing else of the cell.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util

from amaranth.hdl import signed
from amaranth.lib import data
from amaranth.lib.wiring import In, Out

__all__ = ["get", "has_hardware", "step_signature", "state_layout", "carry_layout", "latency"]


def state_layout(cfg) -> data.ArrayLayout:
    """One neuron's membranes, ``[S]`` signed ``u_bits``."""
    return data.ArrayLayout(signed(cfg.u_bits), len(cfg.cell_def().MEMBRANES))


def carry_layout(cfg) -> data.StructLayout:
    """One neuron's carried values, each at the width of its config field."""
    cell = cfg.cell_def()
    return data.StructLayout({name: signed(cell.carry_bits(cfg, bits)) for name, bits in cell.CARRY})


def step_signature(cfg, *, neurons: int, z_bits: int) -> dict:
    """The ports every cell step has (see the module docstring)."""
    q, g = neurons, cfg.cell_def().gates
    return {
        "z": In(data.ArrayLayout(data.ArrayLayout(signed(z_bits), g), q)),
        "u_prev": In(data.ArrayLayout(state_layout(cfg), q)),
        "carry_prev": In(data.ArrayLayout(carry_layout(cfg), q)),
        "u": Out(data.ArrayLayout(state_layout(cfg), q)),
        "carry": Out(data.ArrayLayout(carry_layout(cfg), q)),
        "h": Out(data.ArrayLayout(signed(cfg.cell_def().h_bits(cfg)), q)),
    }


def get(cfg_or_name):
    """The ``STEP`` class of a cell (by name, or of a configuration's cell)."""
    name = cfg_or_name if isinstance(cfg_or_name, str) else cfg_or_name.cell
    return _load(name)


@functools.cache
def _load(name: str):
    try:
        module = importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as err:
        from model.config import ConfigError
        raise ConfigError(f"cell {name!r} has no hardware (hw/cells/{name}.py): {err}") from None
    return module.STEP


def has_hardware(name: str) -> bool:
    """Whether the cell ``name`` of :mod:`model.cells` has a module here."""
    return importlib.util.find_spec(f"{__name__}.{name}") is not None


def latency(cfg) -> int:
    """Register stages of the configured cell's pipelined step."""
    return get(cfg).LATENCY
