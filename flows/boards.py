"""Board registry: the boards ``make synth BOARD=...`` knows, over amaranth-boards.

Each entry names the amaranth-boards platform class, the FPGA family (which decides
the flow: ``ecp5`` goes to a bitstream with yosys + nextpnr-ecp5 + ecppack, ``xilinx``
gets yosys ``synth_xilinx`` figures and a Vivado project), and the device's capacity
in the units the reports use. The capacities are the vendors' device tables (Lattice
ECP5 family data sheet FPGA-DS-02012; Xilinx 7 series overview DS180 for XC7K325T).

    python -m flows.boards          # make boards
"""

from __future__ import annotations

import copy
import importlib
import sys
from dataclasses import dataclass

__all__ = ["Board", "BOARDS", "board", "BoardError", "DEFAULT_BOARD"]

DEFAULT_BOARD = "ulx3s-85f"


class BoardError(ValueError):
    """An unknown board name or an unusable board description."""


#: device capacity: LUTs, flip-flops, block RAMs (18 kbit DP16KD on ECP5; 36 kbit
#: RAMB36 tiles on 7 series, each also usable as two RAMB18), DSPs (18x18 multipliers
#: on ECP5; DSP48E1 slices on 7 series).
DEVICES = {
    "LFE5U-12F": {"LUT": 12096, "FF": 12096, "BRAM": 32, "DSP": 28},
    "LFE5U-25F": {"LUT": 24288, "FF": 24288, "BRAM": 56, "DSP": 28},
    "LFE5U-45F": {"LUT": 43848, "FF": 43848, "BRAM": 108, "DSP": 72},
    "LFE5UM-45F": {"LUT": 43848, "FF": 43848, "BRAM": 108, "DSP": 72},
    "LFE5U-85F": {"LUT": 83640, "FF": 83640, "BRAM": 208, "DSP": 156},
    "LFE5UM5G-85F": {"LUT": 83640, "FF": 83640, "BRAM": 208, "DSP": 156},
    "xc7k325t": {"LUT": 203800, "FF": 407600, "BRAM": 445, "DSP": 840},
}


#: bits a block RAM reads per cycle over both of its ports: ECP5 DP16KD 2 x 18 (36 in
#: its widest mode), 7-series RAMB36E1 2 x 36 (DESIGN section 7's weight-bandwidth bound)
BRAM_READ_BITS = {"ecp5": 36, "xilinx": 72}


@dataclass(frozen=True)
class Board:
    name: str
    module: str           # amaranth_boards module
    cls: str              # platform class in it
    family: str           # "ecp5" or "xilinx"
    note: str = ""
    uart_pins: tuple[str, str, str] | None = None  # (connector, rx, tx) when the board lacks a UART resource

    def platform_class(self):
        mod = importlib.import_module(f"amaranth_boards.{self.module}")
        return getattr(mod, self.cls)

    def platform(self, *, constrain_mhz: float | None = None):
        """A platform instance, with a UART resource added where the board has none.

        ``constrain_mhz`` replaces the frequency constraint of the default clock (the
        board still runs at its own oscillator frequency, see :attr:`clock_hz`): place
        and route then times the design against that target.
        """
        plat = self.platform_class()()
        if self.uart_pins is not None:
            from amaranth.build import Attrs
            from amaranth_boards.resources import UARTResource
            conn, rx, tx = self.uart_pins
            plat.add_resources([UARTResource(0, rx=rx, tx=tx, conn=(conn, 0),
                                             attrs=Attrs(IO_TYPE="LVCMOS33"))])
        if constrain_mhz is not None:
            from amaranth.build import Clock
            key = next(k for k in plat.resources if k[0] == plat.default_clk)
            res = copy.copy(plat.resources[key])
            res.clock = Clock(constrain_mhz * 1e6)
            plat.resources[key] = res
        return plat

    @property
    def _info(self):
        cls = self.platform_class()
        return cls, cls()

    @property
    def device(self) -> str:
        return self._info[1].device

    @property
    def package(self) -> str:
        return self._info[1].package

    @property
    def speed(self):
        return self._info[1].speed

    @property
    def clock_hz(self) -> float:
        """The board's own default clock (the oscillator the design runs from)."""
        return float(self._info[1].default_clk_frequency)

    @property
    def capacity(self) -> dict:
        return dict(DEVICES[self.device])

    def weights_per_cycle(self, w_bits: int) -> float:
        """The most ``w_bits``-wide weights the device's block RAMs can deliver in one
        cycle, as DESIGN section 7 counts it: block RAMs x read bits per cycle / w_bits
        (every block RAM read on both ports at its widest)."""
        return self.capacity["BRAM"] * BRAM_READ_BITS[self.family] / w_bits


BOARDS: dict[str, Board] = {b.name: b for b in [
    Board("ulx3s-12f", "ulx3s", "ULX3S_12F_Platform", "ecp5"),
    Board("ulx3s-25f", "ulx3s", "ULX3S_25F_Platform", "ecp5"),
    Board("ulx3s-45f", "ulx3s", "ULX3S_45F_Platform", "ecp5"),
    Board("ulx3s-85f", "ulx3s", "ULX3S_85F_Platform", "ecp5"),
    Board("orangecrab", "orangecrab_r0_2", "OrangeCrabR0_2_85FPlatform", "ecp5",
          note="UART on Feather pins 0 (rx) / 1 (tx)", uart_pins=("io", "0", "1")),
    Board("orangecrab-25f", "orangecrab_r0_2", "OrangeCrabR0_2Platform", "ecp5",
          note="UART on Feather pins 0 (rx) / 1 (tx)", uart_pins=("io", "0", "1")),
    Board("ecpix5-85", "ecpix5", "ECPIX585Platform", "ecp5"),
    Board("versa-ecp5", "versa_ecp5", "VersaECP5Platform", "ecp5"),
    Board("kc705", "kc705", "KC705Platform", "xilinx",
          note="no open place and route: yosys figures and a Vivado project"),
    Board("genesys2", "genesys2", "Genesys2Platform", "xilinx",
          note="no open place and route: yosys figures and a Vivado project"),
]}


def board(name: str) -> Board:
    """The registered board ``name``; a clear error listing the valid names otherwise."""
    try:
        return BOARDS[name]
    except KeyError:
        raise BoardError(f"unknown board {name!r}; valid boards: {', '.join(BOARDS)}") from None


def describe() -> str:
    lines = [f"{'board':<16}{'family':<8}{'device':<14}{'package':<9}{'speed':<7}{'clock':>9}  note"]
    for b in BOARDS.values():
        lines.append(f"{b.name:<16}{b.family:<8}{b.device:<14}{b.package:<9}{str(b.speed):<7}"
                     f"{b.clock_hz / 1e6:>6.0f} MHz  {b.note}")
    return "\n".join(lines)


def main(argv=None) -> int:
    print(describe())
    print(f"\ndefault: {DEFAULT_BOARD}.  make synth BOARD=<board> MODEL=<weights package>")
    return 0


if __name__ == "__main__":
    sys.exit(main())
