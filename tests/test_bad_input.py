"""Bad command-line input gets one line naming the option and exit status 2, before any
work starts (#18): numbers out of range, unknown configuration fields, a manifest that
is not a JSON object."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from model import export
from model.config import ConfigError

pytestmark = pytest.mark.flows

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("argv, message", [
    (["flows.synth", "--target-mhz", "0"], "argument --target-mhz: must be a number above 0, got 0"),
    (["flows.synth", "--sequences", "-1"], "argument --sequences: must be at least 1, got -1"),
    (["cosim.runner", "--sequences", "0"], "argument --sequences: must be at least 1, got 0"),
    (["flows.host", "--model", "digits", "--port", "x", "--timeout", "-1"],
     "argument --timeout: must be a number above 0, got -1"),
    (["model.train", "--set", "bogus=1"], "'bogus' is not a configuration field"),
    (["model.train", "--set", "hidden=[6"], "'[6' is not a value"),
])
def test_a_bad_option_is_one_line_and_status_2(argv, message):
    r = subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def test_a_manifest_that_is_not_an_object_is_named(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps([1, 2, 3]))
    with pytest.raises(ConfigError, match="manifest.json holds a list, not a JSON object"):
        export.load_package(tmp_path)
