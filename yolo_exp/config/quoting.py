"""Values on a command line that Hydra's lexer would refuse or misread (paths with spaces, commas, non-ASCII,
``${``), quoted so that they reach the config verbatim."""
from __future__ import annotations

import re
from typing import Sequence

# Options that hold a file, folder or glob (predict's and export's ``source``, predict's ``coco_json``; ``name``, the
# run folder's suffix): any character a path may hold must get through Hydra's lexer.
PATH_KEYS = ("resume", "weights", "data.file", "data.path", "cache_dir", "hydra.run.dir", "hydra.sweep.dir", "source",
             "coco_json", "name")


REFUSED = object()  # what parsed_value returns when Hydra's lexer cannot read an override


def hydra_quote(value: str) -> str:
    """A single-quoted Hydra string that resolves to ``value`` verbatim.

    Hydra unescapes only backslashes before a quote (its QuotedString does that escaping); OmegaConf would resolve
    ``${``, so that is escaped for it (with any backslashes right before it doubled)."""
    from hydra.core.override_parser.types import Quote, QuotedString

    literal = re.sub(r"(\\*)\$\{", lambda m: m.group(1) * 2 + "\\${", value)
    return QuotedString(text=literal, quote=Quote.single).with_quotes()


def parsed_value(override: str) -> object:
    """The value Hydra reads from ``key=value`` (quotes removed), or REFUSED when its lexer cannot read it."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        return OverridesParser.create().parse_overrides([override])[0].value()
    except Exception:  # noqa: BLE001 - any parser failure means: not readable as written
        return REFUSED


def quote_paths(overrides: Sequence[str], multirun: bool = False) -> list[str]:
    """Path options whose value Hydra would refuse or misread (non-ASCII, spaces, ``#``, ``(``, a comma outside a
    sweep) are passed as quoted strings; values Hydra reads as they are (quoted by the user, interpolations, a
    sweep under ``-m``) are left alone."""
    out = []
    for o in overrides:
        key, sep, raw = o.partition("=")
        if sep and key.lstrip("+") in PATH_KEYS:
            value = parsed_value(o)
            plain = value is None or isinstance(value, str) or (multirun and value is not REFUSED)
            if not plain:  # refused by the lexer, or read as a sweep, a number or a bool
                o = f"{key}={hydra_quote(raw)}"
        out.append(o)
    return out


def path_value(override: str) -> str:
    """The path an override names, whatever quoting it came with."""
    value = parsed_value(override)
    return value if isinstance(value, str) else override.split("=", 1)[1]  # null stays "null"
