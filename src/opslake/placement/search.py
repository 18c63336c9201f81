"""Bin elimination by local search on a partial packing (the engine of GA and SA).

Given a feasible packing with ``B`` bins, one bin is emptied and its items form the *free set*
``F``. The search then moves items between the remaining ``B - 1`` bins and ``F`` with swaps
``(A -> F, P -> bin)`` where ``A`` holds up to two items of one bin and ``P`` one or two free
items, keeping every bin feasible, until ``F`` is empty (success: one bin fewer) or the budget is
spent. The objective is the total normalised size left in ``F`` (ties prefer more, smaller free
items, which are easier to fit later). This is the consistent-neighbourhood idea of Buljubašić &
Vasquez (2016) generalised to vectors; the swap move is the dominance move of Falkenauer (1996)
and Levine & Ducatelle (2004).

Two move-selection policies share the machinery:

* ``tabu``: take the best non-tabu move (an item pulled out of a bin may not re-enter that bin
  for a random tenure).
* ``anneal``: Metropolis on a sample of feasible moves with a geometric temperature schedule.

All candidate moves of one iteration are evaluated at once with numpy: every bin contributes its
(item pair) removal options, crossed with every (item pair) of ``F``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from opslake.placement.budget import Budget, move_cost, pair_cost

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_MAX_PAIR_POSITIONS = 12  # bins with more items only consider removing single items
_MAX_FREE_FOR_PAIRS = 40  # free sets larger than this only offer singles and pairs of the largest


@dataclass
class SearchStats:
    """Counters of one search (for logging and tests)."""

    attempts: int = 0
    successes: int = 0
    iterations: int = 0
    history: list[int] = field(default_factory=list)


def bins_from_assignment(assign: IntArray) -> list[list[int]]:
    """Group item indices by bin (bins numbered ``0..max``)."""
    nb = int(assign.max()) + 1 if assign.size else 0
    out: list[list[int]] = [[] for _ in range(nb)]
    for i, b in enumerate(assign.tolist()):
        out[b].append(i)
    return out


def assignment_from_bins(bins: list[list[int]], n: int) -> IntArray:
    """Inverse of :func:`bins_from_assignment`, skipping empty bins."""
    assign = np.full(n, -1, dtype=np.int64)
    j = 0
    for items in bins:
        if items:
            assign[items] = j
            j += 1
    return assign


class BinEliminator:
    """Reusable state for repeated bin-elimination attempts on one instance.

    Args:
        sizes: ``(n, d)`` placeable item sizes.
        cap: ``(d,)`` effective capacity.
        rng: Random generator (the only source of randomness).
    """

    def __init__(self, sizes: FloatArray, cap: FloatArray, rng: np.random.Generator) -> None:
        self.sizes = sizes
        self.cap = cap
        self.n, self.d = sizes.shape
        self.rng = rng
        self.weight = (sizes / cap).sum(axis=1)
        self.spad = np.vstack([sizes, np.zeros((1, self.d))])
        self.wpad = np.concatenate([self.weight, [0.0]])
        self.stats = SearchStats()
        self.pair_prob = 1.0
        self.patience_base = 150
        self.last_failure: list[list[int]] | None = None
        self._triu_cache: dict[int, tuple[IntArray, IntArray]] = {}

    # ------------------------------------------------------------------ helpers
    def bin_weight(self, items: list[int]) -> float:
        """Total normalised size of a bin."""
        return float(self.weight[items].sum()) if items else 0.0

    def choose_victim(self, bins: list[list[int]]) -> int:
        """A light bin, randomised: the lightest with probability 1/2, else one of the lighter half."""
        w = np.asarray([self.bin_weight(b) for b in bins])
        order = np.argsort(w, kind="stable")
        if self.rng.random() < 0.5:
            return int(order[0])
        half = max(1, len(bins) // 2)
        # Bias towards light bins: squared uniform index.
        pick = int(half * self.rng.random() ** 2)
        return int(order[min(pick, half - 1)])

    # ------------------------------------------------------------------ main move loop
    def _triu(self, k: int) -> tuple[IntArray, IntArray]:
        """Cached ``np.triu_indices(k, 1)``."""
        got = self._triu_cache.get(k)
        if got is None:
            iu, ju = np.triu_indices(k, 1)
            got = (iu.astype(np.int64), ju.astype(np.int64))
            self._triu_cache[k] = got
        return got

    def _options(self, items: list[int]) -> IntArray:
        """Removal options of one bin as ``(k, 2)`` item pairs (``n`` = nothing)."""
        n = self.n
        rows = [(n, n)] + [(x, n) for x in items]
        if len(items) <= _MAX_PAIR_POSITIONS:
            rows += [
                (items[a], items[b]) for a in range(len(items)) for b in range(a + 1, len(items))
            ]
        return np.asarray(rows, dtype=np.int64)

    def eliminate(
        self,
        bins: list[list[int]],
        victim: int,
        budget: Budget,
        max_iter: int,
        policy: str = "tabu",
    ) -> list[list[int]] | None:
        """Try to pack every item of ``bins`` into ``len(bins) - 1`` bins, emptying ``victim``.

        On failure the rearranged bins plus first-fit bins for the free items are kept in
        ``self.last_failure`` (a full packing the caller may continue from).

        Args:
            bins: A feasible packing (not modified).
            victim: Index of the bin to empty.
            budget: Shared iteration budget (one iteration per move).
            max_iter: Cap on the iterations of this attempt.
            policy: ``tabu`` or ``anneal``.

        Returns:
            The new packing (``len(bins) - 1`` bins), or ``None`` on failure.
        """
        self.stats.attempts += 1
        self.last_failure = None
        rng = self.rng
        free: list[int] = list(bins[victim])
        kept = [list(b) for j, b in enumerate(bins) if j != victim]
        nb = len(kept)
        if nb == 0:
            return None
        n, d = self.n, self.d
        cap = self.cap
        spad, wpad = self.spad, self.wpad
        load = np.zeros((nb, d))
        for j, items in enumerate(kept):
            if items:
                load[j] = self.sizes[items].sum(axis=0)
        opts = [self._options(items) for items in kept]
        tabu: dict[tuple[int, int], int] = {}
        best_free_w = float(self.weight[free].sum())
        last_improve = 0
        temp = 0.05
        patience = self.patience_base + nb
        for it in range(max_iter):
            if not free:
                self.stats.successes += 1
                self.stats.iterations += it
                return kept
            if it - last_improve > patience:
                break
            # Free-side options: singles and pairs (pairs among the largest items if F is big).
            fr = np.asarray(free, dtype=np.int64)
            f_sorted = fr[np.argsort(-self.weight[fr], kind="stable")]
            top = f_sorted[:_MAX_FREE_FOR_PAIRS]
            iu, ju = self._triu(top.size)
            # Bin-side removal options, all bins at once.
            counts = np.asarray([o.shape[0] for o in opts], dtype=np.int64)
            # The cost of a move grows with (bin options) x (free options) x dimensions.
            if not budget.take(move_cost(nb, int(counts.sum()), fr.size + iu.size, d)):
                break
            p1 = np.concatenate([f_sorted, top[iu]])
            p2 = np.concatenate([np.full(f_sorted.size, n, dtype=np.int64), top[ju]])
            p_sum = spad[p1] + spad[p2]
            p_w = wpad[p1] + wpad[p2]
            n_p = 1 + (p2 < n).astype(np.int64)
            allo = np.concatenate(opts)
            ob = np.repeat(np.arange(nb, dtype=np.int64), counts)
            o1 = allo[:, 0]
            o2 = allo[:, 1]
            rem = spad[o1] + spad[o2]
            room = (cap - load)[ob] + rem
            a_w = wpad[o1] + wpad[o2]
            n_a = (o1 < n).astype(np.int64) + (o2 < n).astype(np.int64)
            feas = np.all(p_sum[None, :, :] <= room[:, None, :], axis=-1)
            score = (a_w[:, None] - p_w[None, :]) - 1e-6 * (n_a[:, None] - n_p[None, :])
            flat = np.where(feas, score, np.inf).ravel()
            n_feas = int(np.count_nonzero(feas))
            if n_feas == 0 or (float(flat.min()) > -1e-9 and rng.random() < self.pair_prob):
                starts = np.concatenate([[0], np.cumsum(counts)])
                applied, work = self._pair_step(kept, load, opts, ob, o1, o2, rem, starts)
                budget.charge(pair_cost(work))
                if applied:
                    continue
                if n_feas == 0:
                    break
            q = p1.size
            chosen = -1
            if policy == "anneal":
                cand = np.flatnonzero(np.isfinite(flat))
                sample = rng.choice(cand, size=min(24, cand.size), replace=False)
                best_s = int(sample[np.argmin(flat[sample])])
                if flat[best_s] <= 0:
                    chosen = best_s
                else:
                    for c in sample.tolist():
                        if rng.random() < math.exp(-float(flat[c]) / max(temp, 1e-9)):
                            chosen = int(c)
                            break
                temp = max(temp * 0.995, 0.002)
                if chosen < 0:
                    continue
            else:
                top_k = min(48, n_feas)
                idx = np.argpartition(flat, top_k - 1)[:top_k]
                jitter = rng.random(idx.size) * 1e-9
                idx = idx[np.lexsort((jitter, flat[idx]))]
                for c in idx.tolist():
                    oi, pj = divmod(c, q)
                    b = int(ob[oi])
                    ins = [int(p1[pj])] + ([int(p2[pj])] if p2[pj] < n else [])
                    empties = len(ins) == len(free) and n_a[oi] == 0
                    if empties or not any(tabu.get((x, b), -1) >= it for x in ins):
                        chosen = c
                        break
                if chosen < 0:
                    chosen = int(idx[0])
            oi, pj = divmod(chosen, q)
            b = int(ob[oi])
            out_items = [int(x) for x in (o1[oi], o2[oi]) if x < n]
            in_items = [int(p1[pj])] + ([int(p2[pj])] if p2[pj] < n else [])
            row = kept[b]
            for x in out_items:
                row.remove(x)
                free.append(x)
                tabu[(x, b)] = it + 3 + int(rng.integers(0, 8 + len(free)))
            for x in in_items:
                free.remove(x)
                row.append(x)
            load[b] += self.sizes[in_items].sum(axis=0)
            if out_items:
                load[b] -= self.sizes[out_items].sum(axis=0)
            opts[b] = self._options(row)
            fw = float(self.weight[free].sum()) if free else 0.0
            if fw < best_free_w - 1e-12:
                best_free_w = fw
                last_improve = it
        else:
            it = max_iter
            if not free:  # the last move emptied the free set
                self.stats.successes += 1
                self.stats.iterations += it
                return kept
        self.stats.iterations += it
        self.last_failure = self._reopen(kept, free)
        return None

    def _reopen(self, kept: list[list[int]], free: list[int]) -> list[list[int]]:
        """A full packing from a failed attempt: free items first-fit into new bins."""
        out = [list(b) for b in kept if b]
        new_loads: list[FloatArray] = []
        new_bins: list[list[int]] = []
        for i in sorted(free, key=lambda x: -self.weight[x]):
            s = self.sizes[i]
            for j, ld in enumerate(new_loads):
                if np.all(ld + s <= self.cap):
                    new_loads[j] = ld + s
                    new_bins[j].append(i)
                    break
            else:
                new_loads.append(s.copy())
                new_bins.append([i])
        return out + new_bins

    def _pair_step(
        self,
        kept: list[list[int]],
        load: FloatArray,
        opts: list[IntArray],
        ob: IntArray,
        o1: IntArray,
        o2: IntArray,
        rem: FloatArray,
        starts: IntArray,
    ) -> tuple[bool, int]:
        """One descent step between two bins maximising the sum of squared normalised loads.

        The first bin (the emptiest one or a random one) exchanges up to two items with up to two
        items of any other bin. Concentrating load this way opens room for free items.

        Returns:
            Whether an improving exchange was applied (``kept``, ``load``, ``opts`` updated), and
            the number of (option pair x dimension) evaluations made.
        """
        nb = len(kept)
        n = self.n
        cap = self.cap
        slack = ((cap - load) / cap).sum(axis=1)
        tries = [int(np.argmax(slack))] if self.rng.random() < 0.5 else []
        tries += [int(x) for x in self.rng.integers(0, nb, size=2)]
        cap2 = cap * cap
        work = 0
        for b1 in tries:
            lo, hi = int(starts[b1]), int(starts[b1 + 1])
            work += (hi - lo) * rem.shape[0] * self.d
            r1 = rem[lo:hi]  # (m1, d) what b1 gives
            x = rem[None, :, :] - r1[:, None, :]  # (m1, M, d): b1 gains x
            new1 = load[b1] + x
            new2 = load[ob][None, :, :] - x
            ok = np.all(new1 <= cap, axis=-1) & np.all(new2 <= cap, axis=-1)
            ok[:, lo:hi] = False
            old = (load[b1] ** 2)[None, None, :] + (load[ob] ** 2)[None, :, :]
            gain = ((new1 * new1 + new2 * new2 - old) / cap2).sum(axis=-1)
            gain = np.where(ok, gain, -np.inf)
            c = int(np.argmax(gain))
            if not gain.flat[c] > 1e-9:
                continue
            i1, j2 = divmod(c, gain.shape[1])
            b2 = int(ob[j2])
            give = [int(z) for z in (o1[lo + i1], o2[lo + i1]) if z < n]
            take = [int(z) for z in (o1[j2], o2[j2]) if z < n]
            for z in give:
                kept[b1].remove(z)
                kept[b2].append(z)
            for z in take:
                kept[b2].remove(z)
                kept[b1].append(z)
            delta = self.sizes[take].sum(axis=0) if take else np.zeros(self.d)
            if give:
                delta = delta - self.sizes[give].sum(axis=0)
            load[b1] += delta
            load[b2] -= delta
            opts[b1] = self._options(kept[b1])
            opts[b2] = self._options(kept[b2])
            return True, work
        return False, work

    def improve(
        self,
        bins: list[list[int]],
        target: int,
        budget: Budget,
        policy: str = "tabu",
        max_attempts: int | None = None,
    ) -> list[list[int]]:
        """Repeat bin elimination until ``target`` bins, the end of the budget or of the attempts."""
        attempts = 0
        # One bin cannot be eliminated (all-zero items have a lower bound of 0).
        while len(bins) > max(target, 1) and budget.left > 0 and not budget.expired():
            if max_attempts is not None and attempts >= max_attempts:
                break
            attempts += 1
            victim = self.choose_victim(bins)
            spent = budget.used
            res = self.eliminate(bins, victim, budget, 2000 + 20 * len(bins), policy)
            if res is None and budget.used == spent:
                break  # nothing could be tried: another attempt would not either
            if res is not None:
                bins = res
                self.stats.history.append(len(bins))
            elif self.last_failure is not None and len(self.last_failure) <= len(bins):
                # Keep the rearranged bins (slack concentrated by the search) as the new start.
                bins = self.last_failure
        return bins
