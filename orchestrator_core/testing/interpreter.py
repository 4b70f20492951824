"""What the bare interpreter imports at start-up, so a test of what ``orch`` imports measures only orch.

A site's ``.pth`` files run at start-up and may import anything (``random`` and
``tempfile``, say, for a certificate hook, or ``ssl``): a module found in an ``orch``
process is orch's doing only when the bare interpreter, in the same environment, lacks it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Mapping

__all__ = ["interpreter_modules"]


def interpreter_modules(env: Mapping[str, str]) -> set[str]:
    """What the bare interpreter has imported before any code of ours runs (in environment ``env``)."""
    listing = subprocess.run([sys.executable, "-c", "import json, sys; print(json.dumps(sorted(sys.modules)))"],
                             env=dict(env), capture_output=True, text=True, timeout=60, check=True)
    return set(json.loads(listing.stdout))
