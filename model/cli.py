"""Argument types the command lines share: a bad number is refused by argparse with one
line naming the option (exit status 2), before any work starts."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
from pathlib import Path

__all__ = ["positive_int", "positive_float", "int_list", "config_changes", "OutputError", "check_writable", "work_pool",
           "SchedulerError"]


class OutputError(ValueError):
    """An output folder that cannot be written; raised before the work starts."""


def positive_int(text: str) -> int:
    """An integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """A finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a number above 0, got {text}")
    return value


def int_list(text: str) -> tuple[int, ...]:
    """``1,2,4``: distinct non-negative integers (lanes, P values, nextpnr seeds)."""
    try:
        values = tuple(int(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a list like 1,2,3, got {text!r}") from None
    if not values or min(values) < 0 or len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"expected distinct non-negative integers like 1,2,3, got {text!r}")
    return values


def config_changes(ap: argparse.ArgumentParser, items: list[str]) -> dict:
    """``--set FIELD=VALUE`` items as :class:`model.config.NetworkConfig` changes (values
    read as JSON, else words); an unknown field or an unreadable value ends the command
    through ``ap.error`` with one line."""
    import dataclasses
    import json
    from .config import NetworkConfig
    known = {f.name for f in dataclasses.fields(NetworkConfig)} - {"name"}
    changes = {}
    for item in items:
        key, _, value = item.partition("=")
        if key not in known:
            ap.error(f"--set {item}: {key!r} is not a configuration field; choose one of "
                     + ", ".join(sorted(known)))
        try:
            changes[key] = json.loads(value) if not value.isidentifier() else value
        except json.JSONDecodeError:
            ap.error(f"--set {item}: {value!r} is not a value (a number, a list like [64], or a word)")
    return changes


def check_writable(folder: str | os.PathLike, what: str) -> None:
    """Refuse, before any work, a ``folder`` that files cannot be created in (or, if it
    does not exist yet, whose nearest existing parent cannot take it). The test is a
    real one (a temporary folder made and removed there), since permission bits do not
    tell: root ignores them, a read-only mount does not show in them. ``what`` names
    the option, e.g. ``"--out build/x"``."""
    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{what}: {existing} is a file, not a folder")
    try:
        tempfile.TemporaryDirectory(dir=existing, prefix=".spikegate-write-test.").cleanup()
    except OSError as err:
        raise OutputError(f"{what}: cannot write in {existing} ({err.strerror or err})") from None


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a hidden temporary file beside it, renamed into
    place: a reader sees the old file or the new one, never half of one. The temporary
    file goes whatever stops the write, Ctrl-C included (only SIGKILL can leave one,
    named ``.<name>.*.tmp``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a report is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


class SchedulerError(RuntimeError):
    """The Dask scheduler named by ``--scheduler`` could not be reached."""


def work_pool(jobs: int, scheduler: str | None = None, *, timeout_s: float = 20.0):
    """A ``concurrent.futures`` executor for independent work items (sweep points, cosim
    cases): ``jobs`` local worker processes, or, with ``scheduler`` (``tcp://host:8786``),
    the workers of an existing Dask distributed cluster, through the same interface
    (``Client.get_executor``). Use it as a context manager; leaving it shuts the local
    pool down, or closes the client (the cluster's workers stay up). The work functions
    must be importable module-level functions: they run in other processes."""
    if scheduler is None:
        from concurrent.futures import ProcessPoolExecutor
        import multiprocessing
        # "spawn": a worker starts clean (no copy of the parent's threads or open tools)
        return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))
    from contextlib import contextmanager

    try:
        from distributed import Client
    except ImportError as err:  # pinned in requirements.lock; a partial install says so
        raise SchedulerError(f"--scheduler needs dask.distributed ({err}); run make venv") from None
    try:
        client = Client(scheduler, timeout=timeout_s, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as err:
        raise SchedulerError(f"cannot reach the Dask scheduler at {scheduler!r} within "
                             f"{timeout_s:g} s ({err})") from None

    @contextmanager
    def dask_pool():
        try:
            # pure=False: a point run twice (a rerun after a failure) is computed again
            with client.get_executor(pure=False) as pool:
                yield pool
        finally:
            client.close()
    return dask_pool()


def _terminated(signum, frame):
    raise SystemExit(128 + signum)


def run_command(main) -> None:
    """Run ``main()`` as a ``python -m`` command and exit with its status.

    SIGTERM (``kill``, a CI time-out) becomes ``SystemExit(143)`` and Ctrl-C ends in one
    line and status 130. Both unwind the stack, so the cleanup handlers of the atomic
    writers run exactly as for any other error."""
    signal.signal(signal.SIGTERM, _terminated)
    try:
        status = main()
    except KeyboardInterrupt:
        # objects cut short in their constructor (a progress bar) complain in __del__ at
        # exit ("Exception ignored ..."): after an interrupt that is noise, not news
        sys.unraisablehook = lambda unraisable: None
        print("spikegate: interrupted; finished outputs were kept, unfinished ones removed",
              file=sys.stderr)
        status = 130
    sys.exit(status)
