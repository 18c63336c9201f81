"""The public-instance readers live with the benchmarks (``benchmarks/instances.py``), outside the
package; make the repository root importable so the quality tests can use them."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
