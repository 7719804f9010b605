"""The command line of a study script, built from its documented ``Args`` dataclass (CleanRL
style): one option per field, ``--field-name`` for ``field_name``, the field's ``help`` metadata
as its help text and its default as the default. Every field must have help text.

Supported field types: ``bool`` (a flag, default False), ``int``, ``float``, ``str`` and their
``| None`` forms (default None). Lists are written as comma-separated strings and checked by the
script (the checks name the option and the position).
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing

__all__ = ["field", "parse_args"]


def field(default, help: str):
    """A dataclass field with its default and its help text."""
    return dataclasses.field(default=default, metadata={"help": help})


def _scalar(tp):
    """``int`` for ``int`` and ``int | None`` (likewise float, str); else ``None``."""
    if tp in (int, float, str):
        return tp
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        rest = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(rest) == 1 and rest[0] in (int, float, str):
            return rest[0]
    return None


def build_parser(cls, prog: str, description: str) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` with one option per field of the dataclass ``cls``."""
    hints = typing.get_type_hints(cls)
    parser = argparse.ArgumentParser(prog=prog, description=description)
    for f in dataclasses.fields(cls):
        if "help" not in f.metadata:
            raise TypeError(f"{cls.__name__}.{f.name} has no help text")
        flag = "--" + f.name.replace("_", "-")
        tp = hints[f.name]
        if tp is bool:
            if f.default is not False:
                raise TypeError(f"{cls.__name__}.{f.name}: a flag must default to False")
            parser.add_argument(flag, action="store_true", help=f.metadata["help"])
            continue
        scalar = _scalar(tp)
        if scalar is None:
            raise TypeError(f"{cls.__name__}.{f.name}: unsupported type {tp}")
        shown = "" if f.default is None else f" (default: {f.default})"
        parser.add_argument(flag, type=scalar, default=f.default, dest=f.name,
                            help=f.metadata["help"] + shown)
    return parser


def parse_args(cls, argv=None, *, prog: str, description: str):
    """``cls(**options)`` from the command line ``argv`` (``sys.argv[1:]`` when None)."""
    ns = build_parser(cls, prog, description).parse_args(argv)
    return cls(**vars(ns))
