"""Benchmark file readers and solution quality on a subset of the public instances."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from benchmarks.instances import Instance, load_public_instances, read_orlib, read_vbp

from opslake.placement import pack

BENCH = Path(
    os.environ.get(
        "OPSLAKE_BENCH_DATA", str(Path(__file__).resolve().parents[3].parent / "shared" / "bench")
    )
)


@pytest.fixture(scope="module")
def public() -> dict[str, Instance]:
    if not (BENCH / "binpacking").is_dir():
        pytest.skip(f"public benchmark data not found at {BENCH} (set OPSLAKE_BENCH_DATA)")
    return {i.name: i for i in load_public_instances(BENCH)}


def test_read_orlib_and_vbp(tmp_path: Path) -> None:
    f = tmp_path / "bp.txt"
    f.write_text(" 2\n u_a\n 10 3 2\n5\n5\n4\n u_b\n 7 1 1\n7\n")
    got = read_orlib(f)
    assert [i.name for i in got] == ["u_a", "u_b"]
    assert got[0].sizes.tolist() == [5.0, 5.0, 4.0] and got[0].capacity.tolist() == [10.0]
    v = tmp_path / "x.vbp"
    v.write_text("2\n10 20\n2\n1 2 3\n4 5 1\n")
    inst = read_vbp(v)
    assert inst.name == "x" and inst.capacity.tolist() == [10.0, 20.0]
    assert inst.sizes.tolist() == [[1, 2], [1, 2], [1, 2], [4, 5]]


def test_malformed_files_raise(tmp_path: Path) -> None:
    f = tmp_path / "bad.txt"
    f.write_text(" 1\n u_a\n 10 5 2\n5\n")
    with pytest.raises(ValueError, match="malformed"):
        read_orlib(f)
    v = tmp_path / "bad.vbp"
    v.write_text("2\n10 20\n3\n1 2 3\n")
    with pytest.raises(ValueError, match="malformed"):
        read_vbp(v)
    with pytest.raises(FileNotFoundError):
        load_public_instances(tmp_path)


def test_public_instances_are_complete(public: dict[str, Instance]) -> None:
    one_d = [i for i in public.values() if i.name.startswith("u")]
    vec = [i for i in public.values() if i.name.startswith("class")]
    assert len(one_d) == 80 and all(i.optimum for i in one_d)
    assert len(vec) == 180 and sum(i.optimum is not None for i in vec) == 160
    u = public["u120_00"]
    assert u.sizes.shape == (120,) and u.capacity.tolist() == [150.0] and u.optimum == 48
    c = public["class1_20_3_0"]
    assert c.sizes.shape[1] == 3 and c.lower_bound == 6


def test_bounds_never_exceed_proven_optima(public: dict[str, Instance]) -> None:
    for inst in public.values():
        if inst.optimum is not None:
            r = pack(inst.sizes.astype(np.int64), inst.capacity.astype(np.int64), "ffd")
            assert r.lower_bound <= inst.optimum <= r.bins_used, inst.name


def _solved(insts: list[Instance], alg: str) -> int:
    hits = 0
    for inst in insts:
        r = pack(
            inst.sizes.astype(np.int64),
            inst.capacity.astype(np.int64),
            alg,
            seed=0,
            search_budget=5000,  # most stop at the bound well before
            target_bins=inst.lower_bound,
        )
        assert r.bins_used >= (inst.optimum or 0)
        hits += r.bins_used == inst.optimum
    return hits


@pytest.mark.parametrize("alg", ["annealing", "genetic"])
def test_quality_u120(public: dict[str, Instance], alg: str) -> None:
    insts = [public[f"u120_{k:02d}"] for k in range(10)]
    ffd = sum(pack(i.sizes, i.capacity).bins_used == i.optimum for i in insts)
    assert _solved(insts, alg) >= 9 > ffd


@pytest.mark.parametrize("alg", ["annealing", "genetic"])
def test_quality_vector_class1(public: dict[str, Instance], alg: str) -> None:
    insts = [public[f"class1_20_3_{k}"] for k in range(10)]
    ffd = sum(pack(i.sizes, i.capacity).bins_used == i.optimum for i in insts)
    assert _solved(insts, alg) >= 9 > ffd
