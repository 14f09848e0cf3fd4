"""The board's UART byte protocol: the rule book the board top and the host share.

:class:`hw.board.top.BoardTop` builds its receiver and sender from these constants and
lengths, and the host side (:mod:`flows.host`) encodes requests and decodes responses
with the same ones, so each rule is written once. The byte layout itself is described
in :mod:`flows.host`, next to the code that speaks it from a computer.
"""

from __future__ import annotations

from hw.config import CYCLE_BITS, HardwareConfig
from hw.network import beats_per_sequence, input_layout
from model.config import ConfigError, NetworkConfig

__all__ = ["REQUEST_START", "RESPONSE_START", "ERROR_BASE", "ERROR_FRAMING", "ERROR_OVERRUN",
           "ERROR_TIMEOUT", "CLASS_BYTES", "CYCLE_BYTES", "DEFAULT_BAUD", "byte_count",
           "beat_layout", "beat_bits", "beat_bytes", "beats_per_sequence", "request_length",
           "logit_bytes", "response_length", "check_protocol"]

REQUEST_START = 0xA5
RESPONSE_START = 0x5A
#: Error reply: ``ERROR_BASE | reasons`` in one byte.
ERROR_BASE = 0xE0
ERROR_FRAMING = 0x01
ERROR_OVERRUN = 0x02
ERROR_TIMEOUT = 0x04

CLASS_BYTES = 1
CYCLE_BYTES = (CYCLE_BITS + 7) // 8
DEFAULT_BAUD = 115200


def byte_count(bits: int) -> int:
    """Whole bytes that hold ``bits`` bits."""
    return (bits + 7) // 8


def beat_layout(cfg: NetworkConfig):
    """The input stream's beat layout (it depends on the network alone, not on lanes or P)."""
    return input_layout(HardwareConfig(cfg))


def beat_bits(cfg: NetworkConfig) -> int:
    return beat_layout(cfg).size


def beat_bytes(cfg: NetworkConfig) -> int:
    return byte_count(beat_bits(cfg))


def request_length(cfg: NetworkConfig) -> int:
    return 1 + beats_per_sequence(cfg) * beat_bytes(cfg)


def logit_bytes(cfg: NetworkConfig) -> int:
    return byte_count(cfg.logit_bits)


def response_length(cfg: NetworkConfig) -> int:
    """Bytes of a full response, start byte included."""
    return 1 + cfg.classes * logit_bytes(cfg) + CLASS_BYTES + CYCLE_BYTES


def check_protocol(cfg: NetworkConfig) -> None:
    """Refuse a network whose results the response cannot carry."""
    if cfg.classes > 1 << (8 * CLASS_BYTES):
        raise ConfigError(f"the UART response carries the class in {CLASS_BYTES} byte; "
                          f"{cfg.classes} classes do not fit")
