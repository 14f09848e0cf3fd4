"""The board top's UART protocol in the Amaranth simulator, against the golden model.

A simulated serial link stands in for the port: one testbench shifts the host's bytes
onto ``rx`` bit by bit, another decodes ``tx`` into bytes, and the host code of
``flows.host`` talks to it through the same ``write`` / ``read`` calls it uses with
pyserial. Expected logits and classes come from ``model.golden.run``, cycle counts from
``hw.latency``; the byte layout is checked against values worked out by hand.

PYTEST_DONT_REWRITE: assertion rewriting slows the simulator down (see
tests/test_hw_network.py); the asserts carry their own messages.
"""

from collections import deque

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from flows import host
from hw.board.top import BoardTop, uart_divisor
from hw.board.uart import UARTRx, UARTTx
from hw.config import HardwareConfig
from hw.latency import cycles_for_batch
from hw.network import SpikingLSTMNetwork
from model.config import ConfigError, preset
from model.encoding import random_input
from model.params import random_params

pytestmark = pytest.mark.hwsim

PERIOD = 1e-6           # simulated clock period (1 MHz)
DIVISOR = 4             # clock cycles per UART bit in the simulations
BAUD = 250_000          # 1 MHz / 4


def frame_bits(byte: int, stop: int = 1) -> list[int]:
    return [0] + [(byte >> i) & 1 for i in range(8)] + [stop]


class SimulatedLink:
    """A ``flows.host.Transport`` whose far end is ``rx`` / ``tx`` of a simulated design.

    ``bad_stop`` holds indices (counted over all bytes written) of bytes sent with a 0
    stop bit. ``read`` advances the simulation until the bytes are there or
    ``max_cycles`` have passed, then returns what it has, like a serial port read that
    timed out. ``watch`` names signals whose values at the last clock edge are kept in
    ``latest``; ``monitors`` are further background testbenches.
    """

    def __init__(self, dut, rx, tx, divisor=DIVISOR, *, send_divisor=None, max_cycles=200_000,
                 watch=(), monitors=()):
        self.rx, self.tx, self.divisor = rx, tx, divisor
        self.send_divisor = divisor if send_divisor is None else send_divisor
        self.to_board = deque()
        self.from_board = bytearray()
        self.tx_framing_errors = 0
        self.max_cycles = max_cycles
        self.bad_stop = set()
        self.written = 0
        self.now = 0.0
        self.sim = Simulator(dut)
        self.sim.add_clock(PERIOD)
        self.sim.add_testbench(self._drive, background=True)
        if tx is not None:
            self.sim.add_testbench(self._listen, background=True)
        self.watch, self.latest = tuple(watch), None
        if watch:
            self.sim.add_testbench(self._sample, background=True)
        for monitor in monitors:
            self.sim.add_testbench(monitor, background=True)

    # plain awaits only: async generators (tick().repeat, async for) complain when the
    # simulator is dropped with the background testbenches still waiting
    @staticmethod
    async def _ticks(ctx, n):
        for _ in range(n):
            await ctx.tick()

    async def _drive(self, ctx):
        ctx.set(self.rx, 1)
        while True:
            if not self.to_board:
                await self._ticks(ctx, self.divisor)
                continue
            index, byte = self.to_board.popleft()
            for bit in frame_bits(byte, stop=0 if index in self.bad_stop else 1):
                ctx.set(self.rx, bit)
                await self._ticks(ctx, self.send_divisor)
            ctx.set(self.rx, 1)

    async def _listen(self, ctx):
        half = self.divisor // 2
        while True:
            await ctx.negedge(self.tx)
            await self._ticks(ctx, half)
            if ctx.get(self.tx) != 0:
                continue  # not a start bit
            byte = 0
            for i in range(8):
                await self._ticks(ctx, self.divisor)
                byte |= ctx.get(self.tx) << i
            await self._ticks(ctx, self.divisor)
            if ctx.get(self.tx) != 1:
                self.tx_framing_errors += 1
            self.from_board.append(byte)

    async def _sample(self, ctx):
        while True:
            _, _, *values = await ctx.tick().sample(*self.watch)
            self.latest = [int(v) for v in values]

    def write(self, data: bytes) -> int:
        for byte in data:
            self.to_board.append((self.written, byte))
            self.written += 1
        return len(data)

    def close(self):
        pass

    def run(self, cycles: int):
        self.now += cycles * PERIOD
        self.sim.run_until(self.now)

    def read(self, n: int, max_cycles: int | None = None) -> bytes:
        spent, limit = 0, self.max_cycles if max_cycles is None else max_cycles
        while len(self.from_board) < n and spent < limit:
            self.run(200)
            spent += 200
        out = bytes(self.from_board[:n])
        del self.from_board[:n]
        return out


def make_top(changes: dict, seed: int, *, lanes=1, par=4, request_timeout=0.1):
    cfg = preset("tiny", **changes)
    hw = HardwareConfig(cfg, lanes=lanes, par=par)
    params = random_params(cfg, seed, threshold_scale=0.4)
    top = BoardTop(SpikingLSTMNetwork(hw, params), clk_hz=1 / PERIOD, baud=BAUD,
                   request_timeout=request_timeout)
    assert top.divisor == DIVISOR, f"divisor {top.divisor}"
    return cfg, hw, params, top


def check_results(hw, params, x, results):
    expected, ref = cycles_for_batch(hw, params, x)
    assert len(results) == x.shape[0]
    for b, got in enumerate(results):
        want_logits = [int(v) for v in ref.logits[b]]
        assert got["logits"] == want_logits, f"sequence {b}: logits {got['logits']} != golden {want_logits}"
        assert got["cls"] == int(ref.predicted[b]), f"sequence {b}: class {got['cls']}"
        assert got["cycles"] == expected[b]["total"], \
            f"sequence {b}: {got['cycles']} cycles, latency model {expected[b]['total']}"


# --- the byte layout, worked out by hand ------------------------------------------------

def test_request_bytes_spikes():
    cfg = preset("tiny")  # spikes, M = 4: 2-bit two's complement fields, one byte a beat
    x = np.zeros((cfg.length, cfg.steps, cfg.inputs), dtype=np.int64)
    x[0, 0] = [-1, 0, 1, 1]     # fields 11, 00, 01, 01 from bit 0 up: 0b01_01_00_11
    x[0, 1] = [1, -1, 0, -1]    # 01, 11, 00, 11: 0b11_00_11_01
    x[4, 1] = [0, 0, 0, 1]      # the last beat (element 4, step 1)
    data = host.encode_request(cfg, x)
    assert len(data) == 1 + cfg.length * cfg.steps == host.request_length(cfg), len(data)
    assert data[0] == 0xA5, data
    assert data[1] == 0x53 and data[2] == 0xCD, data.hex()
    assert data[3:-1] == bytes(len(data) - 4) and data[-1] == 0x40, data.hex()


def test_request_bytes_level_and_direct():
    cfg = preset("tiny", encoding="level")  # 4 x 8-bit unsigned: four bytes a beat
    x = np.zeros((cfg.length, cfg.inputs), dtype=np.int64)
    x[0] = [1, 2, 3, 255]
    data = host.encode_request(cfg, x)
    assert len(data) == 1 + 5 * 4, len(data)
    assert data[1:5] == bytes([1, 2, 3, 255]), data.hex()
    cfg = preset("tiny", encoding="direct", x_bits=6, inputs=3)  # 18 bits: three bytes
    x = np.zeros((cfg.length, cfg.inputs), dtype=np.int64)
    x[0] = [-1, 5, -32]   # 0x3F | 0x05 << 6 | 0x20 << 12 = 0x2017F
    data = host.encode_request(cfg, x)
    assert len(data) == 1 + 5 * 3, len(data)
    assert data[1:4] == bytes([0x7F, 0x01, 0x02]), data[1:4].hex()


def test_decode_response_and_errors():
    cfg = preset("tiny")  # 4 classes, 20-bit logits: 3 bytes each
    assert host.response_length(cfg) == 1 + 4 * 3 + 1 + 4
    data = bytes([0x5A, 0x01, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0xF8, 0xFF, 0xFF, 0x07,
                  0x02, 0x78, 0x56, 0x34, 0x12])
    got = host.decode_response(cfg, data)
    assert got == {"logits": [1, -1, -(1 << 19), (1 << 19) - 1], "cls": 2, "cycles": 0x12345678}, got
    with pytest.raises(host.BoardError, match="framing error, request timeout"):
        host.decode_response(cfg, bytes([0xE5]))
    with pytest.raises(host.BoardError, match="0x5A"):
        host.decode_response(cfg, bytes([0x00]) + data[1:])
    with pytest.raises(host.BoardError, match="18 bytes"):
        host.decode_response(cfg, data[:-1])


@pytest.mark.filterwarnings("ignore::amaranth.hdl._ir.UnusedElaboratable")
def test_divisor_and_config_checks():
    assert uart_divisor(25e6, 115200) == 217
    with pytest.raises(ConfigError, match="at least 4"):
        uart_divisor(1e6, 500_000)
    with pytest.raises(ConfigError, match="off"):
        uart_divisor(25e6, 3_000_000)  # 8.33 cycles a bit: 4% off with 8
    with pytest.raises(ConfigError, match="divisor"):
        UARTRx(3)
    cfg = preset("tiny")
    net = SpikingLSTMNetwork(HardwareConfig(cfg), random_params(cfg, 0))
    with pytest.raises(ConfigError, match="request_timeout"):
        BoardTop(net, clk_hz=1e6, baud=BAUD, request_timeout=1e-5)
    net._MustUse__silence = True  # refused, so never elaborated
    with pytest.raises(ConfigError, match="classes"):
        host.check_protocol(cfg.replace(classes=300))


def test_open_serial_without_pyserial(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "serial", None)  # import serial raises ImportError
    with pytest.raises(RuntimeError, match=r"pip install pyserial==3\.5"):
        host.open_serial("/dev/null")


# --- UART alone -----------------------------------------------------------------------------

class Loopback(wiring.Component):
    """UARTRx into UARTTx, with the receiver's error pulses counted."""

    rx: wiring.In(1, init=1)
    tx: wiring.Out(1, init=1)
    framing_errors: wiring.Out(8)
    overruns: wiring.Out(8)

    def __init__(self, divisor):
        self.urx, self.utx = UARTRx(divisor), UARTTx(divisor)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.urx, m.submodules.utx = self.urx, self.utx
        wiring.connect(m, self.urx.o_stream, self.utx.i_stream)
        m.d.comb += [self.urx.rx.eq(self.rx), self.tx.eq(self.utx.tx)]
        with m.If(self.urx.framing_error):
            m.d.sync += self.framing_errors.eq(self.framing_errors + 1)
        with m.If(self.urx.overrun):
            m.d.sync += self.overruns.eq(self.overruns + 1)
        return m


@pytest.mark.parametrize("divisor", [4, 7])
def test_uart_loopback_with_framing_error(divisor):
    dut = Loopback(divisor)
    link = SimulatedLink(dut, dut.rx, dut.tx, divisor, watch=[dut.framing_errors, dut.overruns])
    # 0xA5 goes out with a 0 stop bit: it is dropped, and so are the bytes right behind
    # it, until the line has been idle for a frame
    link.bad_stop = {3}
    link.write(bytes([0x00, 0xFF, 0x55, 0xA5, 0x13, 0x37]))
    echoed = link.read(3)
    assert echoed == bytes([0x00, 0xFF, 0x55]), f"echo {echoed.hex()}"
    assert link.read(1, max_cycles=40 * divisor) == b"", "a byte after the framing error came back"
    link.write(bytes([0x80, 0x01, 0x7E, 0xC3]))
    echoed = link.read(4)
    assert echoed == bytes([0x80, 0x01, 0x7E, 0xC3]), f"echo after the pause {echoed.hex()}"
    assert link.latest == [1, 0], f"framing errors, overruns: {link.latest}"
    assert link.tx_framing_errors == 0, "the transmitter sent a bad stop bit"


@pytest.mark.parametrize("send_divisor", [23, 25])
def test_uart_rx_tolerates_baud_mismatch(send_divisor):
    """A sender 4% fast or slow drifts 9.5 cycles by the stop bit of a 24-cycle bit: only
    a receiver that samples near the middle of each bit still reads every byte."""
    dut = Loopback(24)
    link = SimulatedLink(dut, dut.rx, dut.tx, 24, send_divisor=send_divisor,
                         watch=[dut.framing_errors, dut.overruns])
    payload = bytes([0x00, 0xFF, 0x55, 0xAA, 0x0F, 0xF0, 0x81, 0x7E])
    link.write(payload)
    echoed = link.read(len(payload), max_cycles=20 * 10 * 24)
    assert echoed == payload, f"echo {echoed.hex()} of {payload.hex()}"
    assert link.latest == [0, 0], f"framing errors, overruns: {link.latest}"


def test_uart_rx_overrun():
    """A receiver whose bytes are never taken keeps the first and reports the rest."""
    rx = UARTRx(DIVISOR)
    line = rx.rx
    counts = {"overrun": 0}

    async def watch(ctx):
        while True:
            _, _, overrun = await ctx.tick().sample(rx.overrun)
            counts["overrun"] += overrun
    link = SimulatedLink(rx, line, None, watch=[rx.o_stream.valid, rx.o_stream.payload],
                         monitors=[watch])
    link.write(bytes([0x3C, 0x11, 0x22]))
    link.run(3 * 10 * DIVISOR + 40)
    assert link.latest == [1, 0x3C], f"valid, payload: {link.latest}"
    assert counts["overrun"] == 2, counts


# --- the board top ---------------------------------------------------------------------------

def exchange_all(link, cfg, x):
    return [host.exchange(link, cfg, x[b]) for b in range(x.shape[0])]


def test_two_sequences_back_to_back_spikes():
    cfg, hw, params, top = make_top({}, seed=7)
    x = random_input(cfg, 2, np.random.default_rng(7))
    link = SimulatedLink(top, top.rx, top.tx)
    results = exchange_all(link, cfg, x)
    check_results(hw, params, x, results)
    assert link.tx_framing_errors == 0


def test_level_encoding():
    cfg, hw, params, top = make_top(dict(encoding="level", nonspiking="g", level_shift=5), seed=11)
    x = random_input(cfg, 2, np.random.default_rng(11))
    link = SimulatedLink(top, top.rx, top.tx)
    check_results(hw, params, x, exchange_all(link, cfg, x))


def test_rate_encoding_stalls_the_receiver():
    """T = 100 expansion cycles a beat against 40 cycles a byte: beats queue in the top and
    the receiver must hold a byte back (checked) without losing one."""
    cfg, hw, params, top = make_top(dict(encoding="rate", inputs=1, steps=100, length=3, hidden=(4,),
                                         classes=3), seed=5)
    assert host.beat_bytes(cfg) == 1
    stalls = {"rx": 0}

    async def watch(ctx):
        s = top.uart_rx.o_stream
        while True:
            _, _, valid, ready = await ctx.tick().sample(s.valid, s.ready)
            stalls["rx"] += valid and not ready
    x = random_input(cfg, 1, np.random.default_rng(5))
    link = SimulatedLink(top, top.rx, top.tx, monitors=[watch])
    check_results(hw, params, x, exchange_all(link, cfg, x))
    assert stalls["rx"] > 0, "the receiver never waited for the network: the test lost its point"


def test_the_per_element_readout_answers_one_response_per_element():
    cfg, hw, params, top = make_top(dict(encoding="rate", readout="element", length=3), seed=7)
    x = random_input(cfg, 2, np.random.default_rng(7))
    link = SimulatedLink(top, top.rx, top.tx)
    results = exchange_all(link, cfg, x)
    check_results(hw, params, x, results)
    expected, ref = cycles_for_batch(hw, params, x)
    for b, got in enumerate(results):
        assert [e["logits"] for e in got["elements"]] == ref.element_logits[b].tolist()
        assert [e["cycles"] for e in got["elements"]] == expected[b]["elements"]


def test_request_given_up_then_recovered():
    """A framing error and then a stalled request: each gets its error byte, the network
    is reset, and the next request is answered correctly."""
    cfg, hw, params, top = make_top({}, seed=3, request_timeout=400e-6)  # 400 cycles
    x = random_input(cfg, 3, np.random.default_rng(3))
    link = SimulatedLink(top, top.rx, top.tx)
    request = host.encode_request(cfg, x[0])

    link.bad_stop = {4}                    # the fourth beat of the first request
    link.write(request)
    reply = link.read(1)
    assert reply == bytes([host.ERROR_BASE | host.ERROR_FRAMING]), reply.hex()
    assert link.read(1, max_cycles=2000) == b"", "more than the error byte came back"
    results = [host.exchange(link, cfg, x[1])]

    link.write(host.encode_request(cfg, x[2])[:6])   # half a request, then silence
    reply = link.read(1)
    assert reply == bytes([host.ERROR_BASE | host.ERROR_TIMEOUT]), reply.hex()
    results.append(host.exchange(link, cfg, x[2]))
    check_results(hw, params, x[1:], results)

    with pytest.raises(host.BoardError, match="framing error"):
        link.bad_stop = {link.written + 2}
        host.exchange(link, cfg, x[0])


def test_host_run_samples_against_the_simulated_board():
    cfg, hw, params, top = make_top(dict(encoding="direct", x_bits=6), seed=9, lanes=2, par=8)
    x = random_input(cfg, 2, np.random.default_rng(9))
    link = SimulatedLink(top, top.rx, top.tx)
    lines = []
    summary = host.run_samples(link, cfg, params, x, labels=np.array([0, 1]), out=lines.append)
    assert summary["samples"] == 2 and summary["same_class"] == 2 and summary["same_logits"] == 2, summary
    assert "class 2/2, logits 2/2" in lines[-2], lines


def test_host_command_line_with_the_bundled_digits_model(monkeypatch, capsys):
    """``python -m flows.host`` end to end, the serial port replaced by the simulated top
    built around the bundled digits package."""
    from model.export import load_package, resolve_package
    pkg = load_package(resolve_package("digits"))
    top = BoardTop(SpikingLSTMNetwork(HardwareConfig(pkg.cfg, lanes=2, par=8), pkg.params),
                   clk_hz=1 / PERIOD, baud=BAUD)
    opened = {}

    def fake_open(port, baud, timeout):
        opened.update(port=port, baud=baud)
        return SimulatedLink(top, top.rx, top.tx)
    monkeypatch.setattr(host, "open_serial", fake_open)
    # one sample: the digits network simulates at about a thousand cycles a second
    rc = host.main(["--port", "sim0", "--model", "digits", "--samples", "1", "--baud", str(BAUD)])
    out = capsys.readouterr().out
    assert opened == {"port": "sim0", "baud": BAUD}, opened
    assert rc == 0, out
    # the first digit of the test split (model.data, seed 0) is a 2
    assert "label 2" in out, out
    assert "agreement with the golden model: class 1/1, logits 1/1" in out, out


# --- elaboration for a board ---------------------------------------------------------------

def test_ulx3s_build_plan(tmp_path):
    from amaranth_boards.ulx3s import ULX3S_85F_Platform
    cfg = preset("tiny")
    network = SpikingLSTMNetwork(HardwareConfig(cfg), random_params(cfg, 1))
    platform = ULX3S_85F_Platform()
    top = BoardTop(network, clk_hz=platform.default_clk_frequency, baud=115200)
    assert top.divisor == 217
    plan = platform.build(top, name="top", build_dir=str(tmp_path), do_build=False)
    lpf = plan.files["top.lpf"]
    for pin in ("M1", "L4", "B2", "C2", "C1", "D2", "G2"):  # uart rx, tx; led0..3; clk25
        assert f'SITE "{pin}"' in lpf, f"pin {pin} not constrained"
    assert 'SITE "D1"' not in lpf, "led4 is not used"
    rtlil_text = plan.files["top.il"]
    assert "uart_rx" in rtlil_text and "network" in rtlil_text
