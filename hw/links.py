"""The links between the parts of a layer (:mod:`hw.layer`): small signatures, each
named from the side that drives it, joined with ``wiring.connect``."""

from __future__ import annotations

from amaranth.lib import wiring
from amaranth.lib.wiring import Out

__all__ = ["Phases", "AccumulateStages", "LaneSignature", "WriteBack"]


class Phases(wiring.Signature):
    """The layer controller's phase strobes, as seen by its parts (members are outputs
    of the controller):

    * ``clear``: a run starts (the activity counters restart);
    * ``load``: the LOAD cycle (lanes latch their event vectors, the event list loads);
    * ``take``: the event list gives its next event;
    * ``issue``: an event's chunk enters the accumulate pipeline (stage 2 next cycle);
    * ``neuron``: a NEURON cycle (the chunk goes to the cell step, the accumulators
      restart from the biases);
    * ``finish``: the FINISH cycle (h rows are written to the banks);
    * ``init``: an INIT cycle after the parameters are loaded (every lane's accumulators
      of ``chunk`` restart from the biases, :mod:`hw.param_rom`);
    * ``chunk``: the chunk of this cycle (a register of the controller);
    * ``chunk_next``, ``neuron_next``, ``init_next``: ``chunk``, ``neuron`` and ``init``
      of the next cycle (for parts that register what they derive from them).
    """

    def __init__(self, cbits: int):
        super().__init__({"clear": Out(1), "load": Out(1), "take": Out(1), "issue": Out(1),
                          "neuron": Out(1), "finish": Out(1), "init": Out(1), "chunk": Out(cbits),
                          "chunk_next": Out(cbits), "neuron_next": Out(1), "init_next": Out(1)})


class AccumulateStages(wiring.Signature):
    """What the shared pipeline tells each lane accumulator (outputs of the pipeline):

    * ``rd_chunk``: the chunk whose accumulators are addressed two cycles later (stage
      ``ADD - 3``; the lane registers it, then the RAM does, :class:`hw.lutram.LutRAM`),
      so their data register holds it when the weight word arrives;
    * ``wr_chunk`` / ``wr_en``: the add stage's write address and enable, two stages
      early (registered in the lane, then in the RAM);
    * ``add``: the add stage holds an event's chunk;
    * ``forward``: with one chunk, the previous add's word replaces the memory data.
    """

    def __init__(self, cbits: int):
        super().__init__({"rd_chunk": Out(cbits), "wr_chunk": Out(cbits), "wr_en": Out(1),
                          "add": Out(1), "forward": Out(1)})


class LaneSignature(wiring.Signature):
    """A lane's counters, as the controller drives them (members are its outputs):

    * ``n``: the element the lane works on (one bit more than an index: past the end);
    * ``e``: the lane's element number, ``n = e * L + lane``;
    * ``k``: the step of element ``n`` (one bit more: ``T`` once the lane is done);
    * ``fire``: the lane computes its cell ``(n, k)`` in this round.
    """

    def __init__(self, *, nbits: int, ebits: int, kbits: int):
        super().__init__({"n": Out(nbits + 1), "e": Out(ebits), "k": Out(kbits + 1), "fire": Out(1)})


class WriteBack(wiring.Signature):
    """A lane's write-back stage of the neuron pipeline (members are outputs of the
    tracker, decoded a stage early so every enable starts at a flip-flop):

    * ``chunk``: the chunk whose cell outputs leave the pipeline now;
    * ``fire``: they are valid and the lane fires (the state memories are written);
    * ``hsel``: one-hot, the chunk of the h row they go to (zero when not valid);
    * ``chunk_next`` / ``fire_next``: ``chunk`` and ``fire`` of the next cycle (for the
      memories that register their write controls, :class:`hw.lutram.LutRAM`).
    """

    def __init__(self, *, cbits: int, chunks: int):
        super().__init__({"chunk": Out(cbits), "fire": Out(1), "hsel": Out(chunks),
                          "chunk_next": Out(cbits), "fire_next": Out(1)})
