"""Files of a selection run: the prompts file, and the results JSONL that ``ualign select``
appends to (one record per prompt, resumable: the writer cuts off an interrupted last line and
that prompt runs again; readers never modify the file).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["append_record", "done_prompts", "read_prompts", "read_results"]


def read_prompts(path) -> list[dict]:
    """Prompts as dicts with 'prompt' (and optional 'humans', 'system')."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such prompts file: {path}")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ValueError(f"{path}:{line}: not UTF-8 (byte 0x{data[e.start]:02x})") from None
    out = []
    for i, line in enumerate(text.split("\n")):     # only \n ends a line (not U+2028)
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        if path.suffix == ".jsonl":
            try:
                d = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}: line {i + 1} is not JSON: {e}") from None
            if not isinstance(d, dict) or not isinstance(d.get("prompt"), str):
                raise ValueError(f"{path}: line {i + 1} must be an object with a 'prompt' "
                                 f"string")
            out.append(d)
        else:
            out.append({"prompt": line.strip()})
    if not out:
        raise ValueError(f"{path}: the prompts file holds no prompts")
    return out


def read_results(path, *, repair: bool = False, require: tuple[str, ...] = (),
                 parse=None) -> list:
    """Records (JSON objects, one per line) of a results JSONL, or what ``parse`` makes of
    each (e.g. :meth:`ualign.llm.experiment.SelectionRecord.from_json`).

    A last line cut short by an interrupted write is skipped. Only the writer repairs the file
    (``repair=True``, what ``ualign select`` does before appending): the torn last line is cut
    off (that prompt runs again; its generations come from the cache) and a complete last line
    missing only its newline gets one, so the next append starts clean. Readers
    (``ualign eval-select``) never modify the file.

    Every record must be an object with a ``prompt`` string and the keys in ``require``, and
    ``parse(record)`` must succeed when given (or raise a ``ValueError`` naming the field); else
    ``ValueError`` naming the file, the line and the key or field.
    """
    path = Path(path)
    if not path.exists():
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")
    records: list = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            if i < len(lines) - 1:      # the writer would append to it, a reader reads it
                what = ("refusing to append to this file" if repair else
                        "not a results file written by ualign select")
                raise ValueError(f"{path}: line {i + 1} is not JSON and is not the last line; "
                                 f"{what}") from None
            if repair:
                with open(path, "r+b") as fh:  # the interrupted last line
                    fh.truncate(len(data) - len(line))
            return records
        records.append(_check_record(rec, path, i + 1, require, parse))
    if repair and data and not data.endswith(b"\n"):
        with open(path, "ab") as fh:
            fh.write(b"\n")
    return records


def _check_record(rec, path: Path, line: int, require: tuple[str, ...], parse):
    if not isinstance(rec, dict) or not isinstance(rec.get("prompt"), str):
        raise ValueError(f"{path}: line {line} must be a JSON object with a 'prompt' string "
                         f"(a record written by ualign select)")
    for key in require:
        if key not in rec:
            raise ValueError(f"{path}: line {line} (prompt {rec['prompt'][:40]!r}) has no "
                             f"{key!r}: an incomplete record")
    if parse is None:
        return rec
    try:
        return parse(rec)
    except ValueError as e:
        raise ValueError(f"{path}: line {line} (prompt {rec['prompt'][:40]!r}): {e}") from None


def done_prompts(records: list[dict], run: dict, path) -> set[str]:
    """The prompts already answered by this run. ``run`` is the JSON-ready configuration that
    resuming is keyed on (model, endpoint, population, n, ks, methods, sampling, seed, ...;
    each record keeps it under ``"run"``). A record of the same file made with another
    configuration raises ``ValueError``: mixing runs in one file would make its table
    meaningless."""
    run = json.loads(json.dumps(run))           # tuples -> lists, as stored
    for rec in records:
        old = rec.get("run")
        if old == run:
            continue
        if old is None:
            raise ValueError(f"{path} holds records written without their run configuration "
                             f"(an older ualign): write this run to another --out")
        diff = ", ".join(f"{k}={old.get(k)!r}" for k in sorted(set(old) | set(run))
                         if old.get(k) != run.get(k))
        mine = ", ".join(f"{k}={run.get(k)!r}" for k in sorted(set(old) | set(run))
                         if old.get(k) != run.get(k))
        raise ValueError(f"{path} holds prompt {rec['prompt'][:40]!r} run with {diff}; this run "
                         f"asks for {mine}: write it to another --out (or rerun with the same "
                         f"options)")
    return {rec["prompt"] for rec in records}


def append_record(path, record: dict) -> None:
    """Append one JSON line with a single write on an O_APPEND descriptor, then fsync."""
    line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
