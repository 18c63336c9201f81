"""Readers for the public bin-packing benchmark files (OR-Library ``binpack*.txt``, ``.vbp``).

Benchmark code, not part of the ``opslake`` package: the placement benchmark and the quality tests
(tests/unit/placement/test_instances.py) read the public instances with it.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Instance:
    """One bin-packing instance.

    Attributes:
        name: Instance name (``u120_00``, ``class1_120_3_0``...).
        sizes: ``(n,)`` for 1-D or ``(n, d)`` item sizes.
        capacity: ``(d,)`` bin capacity.
        optimum: Proven optimum number of bins, ``None`` when unknown.
        lower_bound: Published lower bound, ``None`` when not given.
    """

    name: str
    sizes: npt.NDArray[np.float64]
    capacity: npt.NDArray[np.float64]
    optimum: int | None = None
    lower_bound: int | None = None


def _tokens(path: Path) -> list[str]:
    return path.read_text().split()


def read_orlib(path: str | Path) -> list[Instance]:
    """Read an OR-Library ``binpackN.txt`` file (Falkenauer ``u`` instances).

    The ``best_known`` value in the file headers is deliberately ignored (some are wrong); join
    ``optima.csv`` with :func:`load_public_instances` to get proven optima.

    Args:
        path: File path.

    Returns:
        The instances in file order, with ``optimum=None``.

    Raises:
        ValueError: If the file is truncated or malformed.
    """
    p = Path(path)
    tok = _tokens(p)
    try:
        count = int(tok[0])
        pos = 1
        out: list[Instance] = []
        for _ in range(count):
            name = tok[pos]
            cap = float(tok[pos + 1])
            n = int(tok[pos + 2])
            pos += 4
            sizes = np.asarray([float(x) for x in tok[pos : pos + n]], dtype=np.float64)
            if sizes.shape[0] != n:
                raise ValueError(f"{name}: expected {n} items, found {sizes.shape[0]}")
            pos += n
            out.append(Instance(name, sizes, np.asarray([cap], dtype=np.float64)))
    except (IndexError, ValueError) as exc:
        raise ValueError(f"{p}: malformed OR-Library bin-packing file ({exc})") from exc
    return out


def read_vbp(path: str | Path) -> Instance:
    """Read a ``.vbp`` vector bin-packing file, expanding item types by their demand.

    Format: ``d``; the ``d`` capacities; the number of item types ``m``; then ``m`` lines of
    ``w_1 ... w_d demand``.

    Args:
        path: File path; the instance is named after the file stem.

    Returns:
        The instance with ``(n, d)`` sizes.

    Raises:
        ValueError: If the file is truncated or malformed.
    """
    p = Path(path)
    tok = _tokens(p)
    try:
        d = int(tok[0])
        cap = np.asarray([float(x) for x in tok[1 : 1 + d]], dtype=np.float64)
        m = int(tok[1 + d])
        body = np.asarray([float(x) for x in tok[2 + d : 2 + d + m * (d + 1)]], dtype=np.float64)
        if body.size != m * (d + 1) or cap.size != d:
            raise ValueError("truncated file")
        rows = body.reshape(m, d + 1)
        demand = rows[:, d].astype(np.int64)
        sizes = np.repeat(rows[:, :d], demand, axis=0)
    except (IndexError, ValueError) as exc:
        raise ValueError(f"{p}: malformed .vbp file ({exc})") from exc
    return Instance(p.stem, sizes, cap)


def _read_csv(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as fh:
        return {row["instance"]: row for row in csv.DictReader(fh)}


def _int_or_none(text: str | None) -> int | None:
    if text is None or text.strip() == "":
        return None
    value = float(text)
    return None if math.isnan(value) else int(value)


def load_public_instances(bench_dir: str | Path) -> list[Instance]:
    """Load every public instance under ``<bench_dir>/binpacking`` with its known optimum.

    Args:
        bench_dir: The ``shared/bench`` directory (containing ``binpacking/``).

    Returns:
        The 1-D OR-Library instances (sorted by name) followed by the vector instances (sorted by
        class, size and index). ``optimum`` comes from ``optima.csv`` / ``vector/optima.csv``.

    Raises:
        FileNotFoundError: If the directory layout is missing.
    """
    root = Path(bench_dir) / "binpacking"
    if not root.is_dir():
        raise FileNotFoundError(f"no binpacking benchmark directory at {root}")
    optima = _read_csv(root / "optima.csv")
    out: list[Instance] = []
    for f in sorted((root / "orlib").glob("binpack*.txt")):
        for inst in read_orlib(f):
            row = optima.get(inst.name)
            opt = _int_or_none(row["optimum"]) if row else None
            out.append(Instance(inst.name, inst.sizes, inst.capacity, opt, None))
    out.sort(key=lambda i: i.name)
    vopt = _read_csv(root / "vector" / "optima.csv")

    def vkey(p: Path) -> tuple[str, int, int]:
        parts = p.stem.split("_")
        return (parts[0], int(parts[1]), int(parts[-1]))

    for f in sorted((root / "vector").glob("class*/*.vbp"), key=vkey):
        inst = read_vbp(f)
        row = vopt.get(inst.name)
        opt = _int_or_none(row.get("optimum")) if row else None
        lb = _int_or_none(row.get("lower_bound")) if row else None
        out.append(Instance(inst.name, inst.sizes, inst.capacity, opt, lb))
    return out
