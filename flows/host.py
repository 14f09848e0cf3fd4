"""Host side of the board's UART protocol: the byte layout, and the code that speaks it.

The byte layout below is the one :class:`hw.board.top.BoardTop` implements; the top and
this module take the constants and lengths from :mod:`hw.board.protocol`, so the rule is
written once.

Request (host to board)::

    REQUEST_START                                   1 byte, 0xA5
    beat 0 .. beat B-1, each beat_bytes(cfg) bytes  little-endian

A beat is one word of the network's input stream (``hw.network.input_layout``):
element m of the row sits in bits ``[m*w, (m+1)*w)`` of the word, two's complement
for ``spikes`` (w = 2) and ``direct`` (w = x_bits), unsigned for ``rate`` / ``level``
(w = x_bits). The word is sent as ``ceil(M*w / 8)`` bytes, least significant first;
the unused high bits of the last byte are sent as 0 and ignored. ``spikes`` sends
B = N*T beats, element-major (element n's T rows, then element n+1's); the other
encodings send B = N beats, one per element.

Response (board to host), after the board has read the whole request (with the
per-element readout, ``readout="element"``, one response per element, in order)::

    RESPONSE_START                                  1 byte, 0x5A
    logit 0 .. logit C-1, each logit_bytes(cfg)     two's complement, sign-extended
                                                    from logit_bits, little-endian
    class                                           1 byte
    cycles                                          4 bytes, little-endian

or, when the board gave a request up, the single byte ``ERROR_BASE | reasons`` (0xE1
to 0xE7): ``ERROR_FRAMING`` (a byte with a bad stop bit), ``ERROR_OVERRUN`` (a byte
arrived before the previous one was taken), ``ERROR_TIMEOUT`` (the request stopped
arriving for longer than the board's request timeout). The board then waits for a new
``REQUEST_START``.

One request at a time: the board ignores the bytes that arrive between the end of a
request and the start of its response, so send the next request once the response
(or the error byte) has arrived. Bytes other than ``REQUEST_START`` are ignored while
the board waits for a request, which lets the host resynchronise by waiting out the
timeout and sending a fresh request.

Command line::

    python -m flows.host --port /dev/ttyUSB0 --model digits [--baud 115200] [--samples 20]

sends test samples (the test split of a digits or mnist1d model's dataset, coded with
the feature scale and coding recorded in its package; random inputs of the model's
encoding otherwise), prints the board's class, logits and cycle count per
sample and compares them with the golden model. Needs pyserial (``pip install
pyserial==3.5``).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Protocol

import numpy as np

from hw.board.protocol import (CLASS_BYTES, CYCLE_BYTES, DEFAULT_BAUD, ERROR_BASE,
                               ERROR_FRAMING, ERROR_OVERRUN, ERROR_TIMEOUT, REQUEST_START,
                               RESPONSE_START, beat_bits, beat_bytes, beat_layout,
                               beats_per_sequence, byte_count, check_protocol, logit_bytes,
                               request_length, response_length)
from hw.network import input_beats
from model.cli import positive_float
from model.config import ConfigError, NetworkConfig
from model.encoding import check_input
from model.export import sample_inputs  # re-exported: the inputs the host sends

__all__ = ["REQUEST_START", "RESPONSE_START", "ERROR_BASE", "ERROR_FRAMING", "ERROR_OVERRUN",
           "ERROR_TIMEOUT", "CLASS_BYTES", "CYCLE_BYTES", "DEFAULT_BAUD", "BoardError",
           "Transport", "byte_count", "beat_layout", "beat_bits", "beat_bytes",
           "beats_per_sequence", "request_length", "logit_bytes", "response_length",
           "check_protocol", "encode_request", "decode_response", "describe_error", "exchange",
           "open_serial", "sample_inputs", "run_samples", "main"]

_ERROR_NAMES = {ERROR_FRAMING: "framing error", ERROR_OVERRUN: "receive overrun",
                ERROR_TIMEOUT: "request timeout"}
_ERROR_MASK = ERROR_FRAMING | ERROR_OVERRUN | ERROR_TIMEOUT


class BoardError(RuntimeError):
    """The board answered with an error byte, something unexpected, or not at all."""


class Transport(Protocol):
    """What the host needs from a link: a serial port, or a simulated board in tests.

    ``read(n)`` returns at most ``n`` bytes; fewer means it gave up waiting.
    """

    def write(self, data: bytes) -> int | None: ...

    def read(self, n: int) -> bytes: ...


# --- encoding and decoding ----------------------------------------------------------------

def _beats(cfg: NetworkConfig, sequence) -> np.ndarray:
    x = check_input(cfg, sequence)
    if x.shape[0] != 1:
        raise ConfigError(f"encode_request takes one sequence, got a batch of {x.shape[0]}")
    return input_beats(cfg, x[0])


def encode_request(cfg: NetworkConfig, sequence) -> bytes:
    """The request bytes for one raw input sequence (shape as for ``model.golden.run``,
    without the batch axis)."""
    check_protocol(cfg)
    layout = beat_layout(cfg)
    n = beat_bytes(cfg)
    out = bytearray([REQUEST_START])
    for row in _beats(cfg, sequence):
        word = layout.const([int(v) for v in row]).as_bits()
        out += word.to_bytes(n, "little")
    return bytes(out)


def describe_error(byte: int) -> str | None:
    """The reasons an error reply names, or None when ``byte`` is not an error reply."""
    if byte & ~_ERROR_MASK != ERROR_BASE or byte == ERROR_BASE:
        return None
    return ", ".join(name for bit, name in _ERROR_NAMES.items() if byte & bit)


def decode_response(cfg: NetworkConfig, data: bytes) -> dict:
    """``{"logits": [int], "cls": int, "cycles": int}`` from a full response."""
    data = bytes(data)
    want = response_length(cfg)
    if data and data[0] != RESPONSE_START:
        reason = describe_error(data[0])
        if reason is not None:
            raise BoardError(f"the board gave the request up: {reason}")
        raise BoardError(f"a response starts with 0x{RESPONSE_START:02X}, got 0x{data[0]:02X}")
    if len(data) != want:
        raise BoardError(f"a response for {cfg.name!r} is {want} bytes, got {len(data)}")
    lb = logit_bytes(cfg)
    pos = 1
    logits = []
    for _ in range(cfg.classes):
        logits.append(int.from_bytes(data[pos:pos + lb], "little", signed=True))
        pos += lb
    cls = int.from_bytes(data[pos:pos + CLASS_BYTES], "little")
    pos += CLASS_BYTES
    cycles = int.from_bytes(data[pos:pos + CYCLE_BYTES], "little")
    return {"logits": logits, "cls": cls, "cycles": cycles}


# --- talking to a board -------------------------------------------------------------------

def _read_exact(link: Transport, n: int, what: str) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = link.read(n - len(data))
        if not chunk:
            raise BoardError(f"no {what} from the board: got {len(data)} of {n} bytes before "
                             f"the read timed out")
        data += chunk
    return bytes(data)


def exchange(link: Transport, cfg: NetworkConfig, sequence) -> dict:
    """Send one sequence, wait for its result; raise BoardError on an error reply.

    With the per-element readout (``readout="element"``) the board answers one response
    per element, back to back: the result is the last element's, and ``elements`` lists
    them all in order."""
    link.write(encode_request(cfg, sequence))
    frames = []
    for n in range(cfg.length if cfg.readout == "element" else 1):
        what = "response" if cfg.readout != "element" else f"response of element {n}"
        first = _read_exact(link, 1, what)
        if first[0] != RESPONSE_START:
            decode_response(cfg, first)  # raises, naming the error
        frames.append(decode_response(cfg, first + _read_exact(link, response_length(cfg) - 1,
                                                               f"full {what}")))
    if cfg.readout == "element":
        return {**frames[-1], "elements": frames}
    return frames[0]


def open_serial(port: str, baud: int = DEFAULT_BAUD, timeout: float = 2.0):
    """A pyserial port (8N1) that fits :class:`Transport`."""
    try:
        import serial
    except ImportError:
        raise RuntimeError("talking to a board needs pyserial: pip install pyserial==3.5") from None
    link = serial.Serial(port, baudrate=baud, bytesize=8, parity="N", stopbits=1, timeout=timeout)
    link.reset_input_buffer()
    return link


def run_samples(link: Transport, cfg: NetworkConfig, params, x, labels=None, *, out=print) -> dict:
    """Send every sequence of ``x``, print the board's results next to the golden model's
    and return the counts of agreement."""
    from model import golden
    x = check_input(cfg, x)
    ref = golden.run(cfg, params, x)
    same_cls = same_logits = correct = 0
    for b in range(x.shape[0]):
        t0 = time.monotonic()
        got = exchange(link, cfg, x[b])
        ms = 1e3 * (time.monotonic() - t0)
        want_logits = [int(v) for v in ref.logits[b]]
        cls_ok = got["cls"] == int(ref.predicted[b])
        logits_ok = got["logits"] == want_logits
        if "elements" in got:  # the per-element readout: every element's logits agree
            logits_ok &= [e["logits"] for e in got["elements"]] == ref.element_logits[b].tolist()
        same_cls += cls_ok
        same_logits += logits_ok
        line = (f"sample {b:3d}: class {got['cls']:3d} (golden {int(ref.predicted[b]):3d}"
                f"{'' if cls_ok else ', DIFFERENT'})  cycles {got['cycles']:8d}  "
                f"logits {got['logits']}{'' if logits_ok else f' golden {want_logits}'}  {ms:.0f} ms")
        if labels is not None:
            correct += got["cls"] == int(labels[b])
            line += f"  label {int(labels[b])}"
        out(line)
    n = x.shape[0]
    summary = {"samples": n, "same_class": same_cls, "same_logits": same_logits,
               "correct": correct if labels is not None else None}
    out(f"agreement with the golden model: class {same_cls}/{n}, logits {same_logits}/{n}")
    if labels is not None:
        out(f"board accuracy on these samples: {correct}/{n}")
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m flows.host", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", required=True, help="serial device, e.g. /dev/ttyUSB0")
    ap.add_argument("--model", default="digits", help="weights package name or folder")
    ap.add_argument("--baud", type=int, default=DEFAULT_BAUD,
                    help="must match the baud rate the bitstream was built with")
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0, help="seed of random inputs (models of other datasets)")
    ap.add_argument("--timeout", type=positive_float, default=2.0, help="seconds to wait for a reply")
    args = ap.parse_args(argv)

    from model.export import load_package, resolve_package
    try:
        pkg = load_package(resolve_package(args.model))
    except ConfigError as err:
        print(f"spikegate: {err}", file=sys.stderr)
        return 2
    x, labels = sample_inputs(pkg, args.samples, args.seed)
    try:
        link = open_serial(args.port, args.baud, args.timeout)
    except (RuntimeError, OSError) as err:  # pyserial's SerialException is an OSError
        print(f"spikegate: {err}", file=sys.stderr)
        return 2
    print(f"model {pkg.cfg.name!r} ({pkg.cfg.encoding}), {x.shape[0]} samples, "
          f"{args.port} at {args.baud} baud")
    try:
        summary = run_samples(link, pkg.cfg, pkg.params, x, labels)
    except BoardError as err:
        print(f"spikegate: {err}", file=sys.stderr)
        return 1
    finally:
        link.close()
    agree = summary["same_class"] == summary["same_logits"] == summary["samples"]
    return 0 if agree else 1


if __name__ == "__main__":
    from model.cli import run_command
    run_command(main)
