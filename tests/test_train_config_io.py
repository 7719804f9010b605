"""`ualign train` configuration input (issue 12, items 13 and 18): YAML errors, aliases and
wrongly typed fields are one-line errors, and a missing torch names the extra to install."""

import subprocess
import sys

import pytest

pytest.importorskip("yaml")

from ualign.cli import main
from ualign.train.config import SelfPlayConfig


def _cfg(tmp_path, text):
    p = tmp_path / "cfg.yaml"
    p.write_text(text)
    return p


def test_yaml_alias_bomb_is_rejected_quickly(tmp_path):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)) + "eval_prompts: *i\n"
    assert len(bomb) < 1024
    with pytest.raises(ValueError, match=r"cfg\.yaml:1: .*anchors and aliases"):
        SelfPlayConfig.from_yaml(_cfg(tmp_path, bomb))


def test_yaml_syntax_error_names_file_and_line(tmp_path, capsys):
    path = _cfg(tmp_path, "k: 1\nprompts: [a, b\n")
    with pytest.raises(ValueError, match=r"cfg\.yaml:\d+: not valid YAML"):
        SelfPlayConfig.from_yaml(path)
    assert main(["train", "--config", str(path)]) == 2
    assert "not valid YAML" in capsys.readouterr().err
    assert main(["train", "--config", str(_cfg(tmp_path, "k: 1\n")), "--set", "k=[1"]) == 2
    assert "--set k=[1" in capsys.readouterr().err


@pytest.mark.parametrize("field, value, expected", [
    ("kl_coef", "abc", "a number"), ("top_p", "[1]", "a number"), ("k", "2.5", "an integer"),
    ("lora", "'yes'", "true or false"), ("model", "3", "a string"), ("max_steps", "true",
                                                                      "an integer"),
    ("prompts", "{a: 1}", "a list of strings or a string"),
])
def test_wrongly_typed_fields_are_value_errors(field, value, expected, tmp_path, capsys):
    path = _cfg(tmp_path, f"prompts: [a]\n{field}: {value}\n" if field != "prompts"
                else f"{field}: {value}\n")
    with pytest.raises(ValueError, match=rf"{field} must be {expected}"):
        SelfPlayConfig.from_yaml(path)
    assert main(["train", "--config", str(path)]) == 2
    assert f"{field} must be {expected}" in capsys.readouterr().err


def test_missing_torch_names_the_extra(tmp_path):
    path = _cfg(tmp_path, "model: smollm2\nprompts: [a]\ncandidates: [ab, ba]\nk: 1\n"
                "group_size: 2\n")
    code = ("import sys; sys.modules['torch'] = None; from ualign.cli import main; "
            f"sys.exit(main(['train', '--config', {str(path)!r}, '--population', "
            "'mallows:n=2,phi=0.5,users=4,seed=0']))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    assert "pip install 'ualign[train]'" in r.stderr and "torch" in r.stderr


def test_save_model_writes_a_completion_marker_last(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    import json

    from test_train_trainer import _cfg, _trainer
    from ualign.train.trainer import COMPLETE_MARKER

    tr = _trainer(_cfg(tmp_path, max_steps=1))
    path = tr.save_model()
    marker = json.loads((path / COMPLETE_MARKER).read_text())
    assert marker["step"] == 0 and "config.json" in marker["files"]
    # a save that fails part way leaves no marker (the stale one is removed first)
    monkeypatch.setattr(tr.tokenizer, "save_pretrained",
                        lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        tr.save_model()
    assert not (path / COMPLETE_MARKER).exists()
