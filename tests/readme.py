"""The README's shell commands, as written (continuation lines joined, comments dropped), for tests that run them."""
from __future__ import annotations

import re
import shlex

from tests.conftest import ROOT


def readme_commands(prefix: str) -> list[list[str]]:
    """Every command in the README's ```bash blocks that starts with ``prefix``, split as a shell would."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words and " ".join(words).startswith(prefix):
                out.append(words)
    return out
