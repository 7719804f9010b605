"""Files of a selection run: the prompts file, and the results JSONL that ``ualign select``
appends to (one record per prompt, resumable: an interrupted last line is cut off and that
prompt runs again).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["append_record", "read_prompts", "read_results"]


def read_prompts(path) -> list[dict]:
    """Prompts as dicts with 'prompt' (and optional 'humans', 'system')."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such prompts file: {path}")
    out = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
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


def read_results(path) -> list[dict]:
    """Records of a results JSONL. A last line cut short by an interrupted write is removed
    from the file (that prompt runs again; its generations come from the cache); a complete
    last line missing only its newline gets one, so the next append starts clean."""
    path = Path(path)
    if not path.exists():
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")
    records = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if i < len(lines) - 1:
                raise ValueError(f"{path}: line {i + 1} is not JSON and is not the last line; "
                                 f"refusing to append to this file") from None
            with open(path, "r+b") as fh:  # the interrupted last line
                fh.truncate(len(data) - len(line))
            return records
    if data and not data.endswith(b"\n"):
        with open(path, "ab") as fh:
            fh.write(b"\n")
    return records


def append_record(path, record: dict) -> None:
    """Append one JSON line with a single write on an O_APPEND descriptor, then fsync."""
    line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
