"""ualign.experimental re-exports the unstable pieces by name, from their own modules."""

import importlib
import subprocess
import sys

import ualign.experimental as ex


def test_every_name_resolves_to_its_home():
    for name in ex.__all__:
        obj = getattr(ex, name)
        assert obj is getattr(importlib.import_module(ex._WHERE[name]), name)
    assert ex.run_exactness.__module__ == "ualign.train.exactness"
    assert ex.VLLMServerClient.__module__ == "ualign.train.vllm_server"


def test_import_is_light():
    code = "import sys, ualign.experimental; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
