"""Compiled (numba) version of the per-rank merge; see :mod:`pyharness.analysis.merge`.

Importing this module fails with ImportError when numba is missing; the
caller then falls back to the reference version.

Design
------
One pass over the events, dense arrays only:

- Levels form a stack (depth known from a first, cheap pass).
- The lists of the open levels live in one *entry pool* used as a stack: the
  entries of level ``d`` are ``[estart[d], estart[d+1])``; ``pos[g]`` is the
  entry of group ``g`` in the deepest open level that has one, and each entry
  remembers the previous one (``e_prev``), so closing a level restores ``pos``
  in O(its list). Per-level touched lists, no dictionaries.
- Entries hold absolute hypothetical values ``A = Pk + dPk`` and
  ``B = Tn + dTn``; then the merge is ``A_X(D) = max(A_X(D) + offset_X, A_X(C))``
  and the rebase is ``A_Y = max(A_Y, Pk_C)``, which changes nothing when
  ``Pk_C`` is below every ``A_Y`` of the level: a lower bound of those is kept
  so the rebase loop is skipped in that (common) case.
- Advanced instances waiting for their reversal are per-location linked
  stacks in a pool with a free list (not recycled inside repeat sections, so
  RESETREPEAT can restore the heads).
- ``dT`` and the counts are summed per instance directly (the merge's ``dT``
  rule is a plain sum along the tree).
Errors come back as codes (``err``); the caller builds the message.
"""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["merge_fast"]

_BIG = np.int64(2**62)


@nb.njit(cache=True)
def _grow1(a, n):
    b = np.empty(n, dtype=a.dtype)
    b[:a.shape[0]] = a
    return b


@nb.njit(cache=True)
def _kernel(kind, loc, wall, cpu, stack, key, G, count, dtw, dtc, dpk, dtn, err):
    n = kind.shape[0]
    nloc = key.shape[0]
    BIG = np.int64(2**62)

    # ---- pass 1: depth of levels and of repeat sections
    d = 0
    maxd = 0
    r = 0
    maxr = 0
    for i in range(n):
        k = kind[i]
        if k == 5:
            d += 1
            if d > maxd:
                maxd = d
        elif k == 6:
            if d > 0:
                d -= 1
        elif k == 8:
            r += 1
            if r > maxr:
                maxr = r
        elif k == 10:
            if r > 0:
                r -= 1
    L = maxd + 1

    # ---- levels
    lv_loc = np.empty(L, np.int64)
    lv_begin = np.empty(L, np.int64)
    lv_snp = np.empty(L, np.int64)
    lv_pk = np.empty(L, np.int64)
    lv_tn = np.empty(L, np.int64)
    lv_estart = np.empty(L, np.int64)
    lv_minA = np.empty(L, np.int64)      # lower bound of the A values of the level's list
    lv_first = np.empty(L, np.bool_)
    lv_pending = np.zeros(L, np.int64)
    base = stack[0] if n > 0 else np.int64(0)
    lv_loc[0] = -1
    lv_begin[0] = -1
    lv_snp[0] = 0
    lv_pk[0] = base
    lv_tn[0] = base
    lv_estart[0] = 0
    lv_minA[0] = BIG
    lv_first[0] = True
    depth = 0

    # ---- entry pool (the lists of the open levels)
    ecap = 1024
    e_grp = np.empty(ecap, np.int64)
    e_A = np.empty(ecap, np.int64)
    e_B = np.empty(ecap, np.int64)
    e_prev = np.empty(ecap, np.int64)
    etop = 0
    pos = np.full(G, -1, np.int64)
    stamp = np.zeros(G, np.int64)
    closeid = 0
    sc_grp = np.empty(G, np.int64)
    sc_A = np.empty(G, np.int64)

    # ---- pending snapshot writes / reads, per location
    w_state = np.zeros(nloc, np.int8)
    w_ev = np.zeros(nloc, np.int64)
    w_wall = np.zeros(nloc, np.int64)
    w_cpu = np.zeros(nloc, np.int64)
    w_snp = np.zeros(nloc, np.int64)
    r_state = np.zeros(nloc, np.int8)
    r_ev = np.zeros(nloc, np.int64)
    r_wall = np.zeros(nloc, np.int64)
    r_cpu = np.zeros(nloc, np.int64)

    # ---- advanced instances: per-location linked stacks in a pool
    acap = 256
    a_ev = np.empty(acap, np.int64)
    a_tw = np.empty(acap, np.int64)
    a_tc = np.empty(acap, np.int64)
    a_snp = np.empty(acap, np.int64)
    a_depth = np.empty(acap, np.int64)
    a_done = np.empty(acap, np.bool_)
    a_next = np.empty(acap, np.int64)
    atop = 0
    afree = -1
    heads = np.full(nloc, -1, np.int64)

    # ---- repeat sections
    R = maxr if maxr > 0 else 1
    rp_heads = np.empty((R, nloc), np.int64)
    rp_depth = np.empty(R, np.int64)
    rp_ev = np.empty(R, np.int64)
    rp_pending = np.empty(R, np.int64)
    rdepth = 0

    for i in range(n):
        k = kind[i]
        if k < 1 or k > 10:
            err[0] = 1
            err[1] = i
            err[4] = k
            return 0, 0
        l = np.int64(loc[i])
        if k <= 6:
            if l < 0 or l >= nloc or key[l] < 0:
                err[0] = 2
                err[1] = i
                err[2] = l
                err[4] = k
                return 0, 0
        if k == 1:                                   # SNPWRITE
            if w_state[l] != 0:
                err[0] = 3
                err[1] = i
                err[2] = l
                err[3] = w_ev[l]
                err[4] = k
                return 0, 0
            w_state[l] = 1
            w_ev[l] = i
            w_wall[l] = wall[i]
            w_cpu[l] = cpu[i]
        elif k == 2:                                 # BEGINADVANCE
            if w_state[l] != 1:
                err[0] = 4
                err[1] = i
                err[2] = l
                err[4] = k
                return 0, 0
            w_state[l] = 2
            w_snp[l] = stack[i]
        elif k == 3:                                 # ENDADVANCE
            if w_state[l] != 2:
                err[0] = 5
                err[1] = i
                err[2] = l
                err[4] = k
                return 0, 0
            w_state[l] = 0
            if afree >= 0:
                j = afree
                afree = a_next[j]
            else:
                if atop == acap:
                    acap *= 2
                    a_ev = _grow1(a_ev, acap)
                    a_tw = _grow1(a_tw, acap)
                    a_tc = _grow1(a_tc, acap)
                    a_snp = _grow1(a_snp, acap)
                    a_depth = _grow1(a_depth, acap)
                    a_done = _grow1(a_done, acap)
                    a_next = _grow1(a_next, acap)
                j = atop
                atop += 1
            a_ev[j] = i
            a_tw[j] = wall[i] - w_wall[l]
            a_tc[j] = cpu[i] - w_cpu[l]
            a_snp[j] = w_snp[l]
            a_depth[j] = depth
            a_done[j] = False
            a_next[j] = heads[l]
            heads[l] = j
            lv_pending[depth] += 1
        elif k == 4:                                 # SNPREAD
            if r_state[l] != 0:
                err[0] = 6
                err[1] = i
                err[2] = l
                err[3] = r_ev[l]
                err[4] = k
                return 0, 0
            r_state[l] = 1
            r_ev[l] = i
            r_wall[l] = wall[i]
            r_cpu[l] = cpu[i]
        elif k == 5:                                 # BEGINREVERSE: open a level
            if r_state[l] != 1:
                err[0] = 7
                err[1] = i
                err[2] = l
                err[4] = k
                return 0, 0
            j = heads[l]
            if j < 0:
                err[0] = 8
                err[1] = i
                err[2] = l
                err[4] = k
                return 0, 0
            if a_depth[j] != depth:
                err[0] = 9
                err[1] = i
                err[2] = l
                err[3] = a_ev[j]
                err[4] = k
                return 0, 0
            heads[l] = a_next[j]
            lv_pending[depth] -= 1
            r_state[l] = 0
            first = not a_done[j]
            a_done[j] = True
            tw = wall[i] - r_wall[l]
            tc = cpu[i] - r_cpu[l]
            if first:
                tw += a_tw[j]
                tc += a_tc[j]
            g = key[l]
            count[g] += 1
            dtw[g] += tw
            dtc[g] += tc
            snp = a_snp[j]
            if rdepth == 0:                          # recycle (kept inside repeat sections)
                a_next[j] = afree
                afree = j
            depth += 1
            lv_loc[depth] = l
            lv_begin[depth] = i
            lv_snp[depth] = snp
            lv_pk[depth] = stack[i]
            lv_tn[depth] = stack[i]
            lv_estart[depth] = etop
            lv_minA[depth] = BIG
            lv_first[depth] = first
            lv_pending[depth] = 0
        elif k == 6:                                 # ENDREVERSE: merge C into D
            if depth == 0:
                err[0] = 10
                err[1] = i
                err[2] = l
                err[4] = k
                return 0, 0
            if lv_loc[depth] != l:
                err[0] = 11
                err[1] = i
                err[2] = l
                err[3] = lv_loc[depth]
                err[4] = k
                return 0, 0
            if rdepth > 0 and rp_depth[rdepth - 1] == depth:
                err[0] = 12
                err[1] = i
                err[2] = l
                err[3] = rp_ev[rdepth - 1]
                err[4] = k
                return 0, 0
            if lv_pending[depth] != 0:
                err[0] = 13
                err[1] = i
                err[2] = l
                err[3] = lv_pending[depth]
                err[4] = k
                return 0, 0
            dC = depth
            dD = depth - 1
            c = key[l]
            PkC = lv_pk[dC]
            PkD = lv_pk[dD]
            TnD = lv_tn[dD]
            p = pos[c]
            BCc = e_B[p] if p >= lv_estart[dC] else lv_tn[dC]
            offset = BCc - lv_snp[dC]
            toff = offset if lv_first[dC] else 0
            # take C's list off the pool, restoring pos
            m = 0
            for e in range(lv_estart[dC], etop):
                g = e_grp[e]
                sc_grp[m] = g
                sc_A[m] = e_A[e]
                m += 1
                pos[g] = e_prev[e]
            etop = lv_estart[dC]
            closeid += 1
            minA = lv_minA[dD]
            hasC = False
            q = 0
            while True:
                if q < m:
                    g = sc_grp[q]
                    AC = sc_A[q]
                elif not hasC:
                    g = c
                    AC = PkC
                else:
                    break
                q += 1
                p = pos[g]
                if p >= lv_estart[dD]:
                    AD = e_A[p]
                    BD = e_B[p]
                else:
                    if etop == ecap:
                        ecap *= 2
                        e_grp = _grow1(e_grp, ecap)
                        e_A = _grow1(e_A, ecap)
                        e_B = _grow1(e_B, ecap)
                        e_prev = _grow1(e_prev, ecap)
                    p = etop
                    etop += 1
                    e_grp[p] = g
                    e_prev[p] = pos[g]
                    pos[g] = p
                    AD = PkD
                    BD = TnD
                if g == c:
                    hasC = True
                    AD += offset
                    BD += toff
                e_A[p] = AD if AD > AC else AC
                e_B[p] = BD
                stamp[g] = closeid
                if e_A[p] < minA:
                    minA = e_A[p]
            # rebase the rest of D's list on Pk_C (skipped when no entry lies below it)
            if PkC > minA:
                minA = BIG
                for e in range(lv_estart[dD], etop):
                    if stamp[e_grp[e]] != closeid and e_A[e] < PkC:
                        e_A[e] = PkC
                    if e_A[e] < minA:
                        minA = e_A[e]
            lv_minA[dD] = minA
            if PkC > PkD:
                lv_pk[dD] = PkC
            depth -= 1
        elif k == 7:                                 # TURN
            s = stack[i]
            if s > lv_pk[depth]:
                lv_pk[depth] = s
            if s > lv_tn[depth]:
                lv_tn[depth] = s
            if etop > lv_estart[depth]:
                minA = BIG
                for e in range(lv_estart[depth], etop):
                    if e_A[e] < s:
                        e_A[e] = s
                    if e_B[e] < s:
                        e_B[e] = s
                    if e_A[e] < minA:
                        minA = e_A[e]
                lv_minA[depth] = minA
        elif k == 8:                                 # STARTREPEAT
            for x in range(nloc):
                rp_heads[rdepth, x] = heads[x]
            rp_depth[rdepth] = depth
            rp_ev[rdepth] = i
            rp_pending[rdepth] = lv_pending[depth]
            rdepth += 1
        else:                                        # RESETREPEAT, ENDREPEAT
            if rdepth == 0:
                err[0] = 14
                err[1] = i
                err[2] = -1
                err[4] = k
                return 0, 0
            if rp_depth[rdepth - 1] != depth:
                err[0] = 15
                err[1] = i
                err[2] = -1
                err[3] = rp_ev[rdepth - 1]
                err[4] = k
                return 0, 0
            if k == 9:
                for x in range(nloc):
                    heads[x] = rp_heads[rdepth - 1, x]
                lv_pending[depth] = rp_pending[rdepth - 1]
            else:
                rdepth -= 1

    # ---- end of trace
    if depth > 0:
        err[0] = 16
        err[1] = lv_begin[depth]
        err[2] = lv_loc[depth]
        return 0, 0
    for x in range(nloc):
        if w_state[x] != 0:
            err[0] = 17
            err[1] = w_ev[x]
            err[2] = x
            return 0, 0
    for x in range(nloc):
        if r_state[x] != 0:
            err[0] = 18
            err[1] = r_ev[x]
            err[2] = x
            return 0, 0
    for x in range(nloc):
        if heads[x] >= 0:
            err[0] = 19
            err[1] = a_ev[heads[x]]
            err[2] = x
            return 0, 0
    for e in range(0, etop):
        g = e_grp[e]
        dpk[g] = e_A[e] - lv_pk[0]
        dtn[g] = e_B[e] - lv_tn[0]
    return lv_pk[0], lv_tn[0]


def merge_fast(kind, loc, wall, cpu, stack, key, G):
    """Run the compiled merge on prepared (contiguous, typed) arrays.

    Returns ``((count, dt_wall, dt_cpu, dpk, dtn, peak, turn), err)``; ``err[0]``
    is 0 on success, else an error code of :mod:`pyharness.analysis.merge`.
    """
    count = np.zeros(G, np.int64)
    dtw = np.zeros(G, np.int64)
    dtc = np.zeros(G, np.int64)
    dpk = np.zeros(G, np.int64)
    dtn = np.zeros(G, np.int64)
    err = np.zeros(5, np.int64)
    peak, turn = _kernel(kind, loc, wall, cpu, stack, key, np.int64(G), count, dtw, dtc, dpk, dtn, err)
    return (count, dtw, dtc, dpk, dtn, int(peak), int(turn)), err
