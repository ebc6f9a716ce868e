/* CPython 3.11 Objects/listobject.c listsort, transcribed for an int array and a "<"
 * callback: count_run, binarysort, compute_minrun, powersort's found_new_run /
 * merge_force_collapse, merge_at, gallop_left/right, merge_lo/hi with min_gallop.
 * Every comparison happens in CPython's order so inconsistent comparators (NaN keys)
 * give CPython's permutation; tests/test_diff_pymatgen.c checks that against python3.
 * Names and structure follow the original to make the correspondence easy to audit. */
#include "pysort.h"

#include <stdlib.h>
#include <string.h>

#define MIN_GALLOP 7
#define MAX_MERGE_PENDING 64
#define TEMP_SIZE 256

typedef struct {
    int base; /* index of the first item of the run */
    int len;
    int power;
} run;

typedef struct {
    int *items;
    int listlen;
    cb_pysort_lt lt;
    const void *ctx;
    int min_gallop;
    int *a; /* merge temp: temparray or malloc'd */
    int alloced;
    int temparray[TEMP_SIZE];
    int n;
    run pending[MAX_MERGE_PENDING];
} merge_state;

#define ISLT(x, y) (ms->lt((x), (y), ms->ctx))

static void reverse(int *lo, int n)
{
    for (int *hi = lo + n - 1; lo < hi; lo++, hi--) {
        int t = *lo;
        *lo = *hi;
        *hi = t;
    }
}

/* Length of the run at lo (at most nremaining items); a strictly descending run is
 * reversed in place (3.11 semantics: descending means every step is "<"). */
static int count_run(merge_state *ms, int *lo, int nremaining)
{
    if (nremaining == 1) return 1;
    int n = 2;
    if (ISLT(lo[1], lo[0])) {
        for (int i = 2; i < nremaining && ISLT(lo[i], lo[i - 1]); i++) n++;
        reverse(lo, n);
    } else {
        for (int i = 2; i < nremaining && !ISLT(lo[i], lo[i - 1]); i++) n++;
    }
    return n;
}

/* Binary insertion sort of lo[0..hi), lo[0..start) already sorted. */
static void binarysort(merge_state *ms, int *lo, int hi, int start)
{
    if (start == 0) start++;
    for (; start < hi; start++) {
        int l = 0, r = start, pivot = lo[start];
        do {
            int p = l + ((r - l) >> 1);
            if (ISLT(pivot, lo[p]))
                r = p;
            else
                l = p + 1;
        } while (l < r);
        memmove(lo + l + 1, lo + l, (size_t)(start - l) * sizeof *lo);
        lo[l] = pivot;
    }
}

static int compute_minrun(int n)
{
    int r = 0;
    while (n >= 64) {
        r |= n & 1;
        n >>= 1;
    }
    return n + r;
}

/* gallop_left: k in 0..n with a[k-1] < key <= a[k]; search starts at hint. */
static int gallop_left(merge_state *ms, int key, const int *a, int n, int hint)
{
    int ofs = 1, lastofs = 0;
    a += hint;
    if (ISLT(*a, key)) {
        const int maxofs = n - hint;
        while (ofs < maxofs) {
            if (ISLT(a[ofs], key)) {
                lastofs = ofs;
                ofs = (ofs << 1) + 1;
            } else
                break;
        }
        if (ofs > maxofs) ofs = maxofs;
        lastofs += hint;
        ofs += hint;
    } else {
        const int maxofs = hint + 1;
        while (ofs < maxofs) {
            if (ISLT(*(a - ofs), key)) break;
            lastofs = ofs;
            ofs = (ofs << 1) + 1;
        }
        if (ofs > maxofs) ofs = maxofs;
        int k = lastofs;
        lastofs = hint - ofs;
        ofs = hint - k;
    }
    a -= hint;
    ++lastofs;
    while (lastofs < ofs) {
        int m = lastofs + ((ofs - lastofs) >> 1);
        if (ISLT(a[m], key))
            lastofs = m + 1;
        else
            ofs = m;
    }
    return ofs;
}

/* gallop_right: k in 0..n with a[k-1] <= key < a[k]. */
static int gallop_right(merge_state *ms, int key, const int *a, int n, int hint)
{
    int ofs = 1, lastofs = 0;
    a += hint;
    if (ISLT(key, *a)) {
        const int maxofs = hint + 1;
        while (ofs < maxofs) {
            if (ISLT(key, *(a - ofs))) {
                lastofs = ofs;
                ofs = (ofs << 1) + 1;
            } else
                break;
        }
        if (ofs > maxofs) ofs = maxofs;
        int k = lastofs;
        lastofs = hint - ofs;
        ofs = hint - k;
    } else {
        const int maxofs = n - hint;
        while (ofs < maxofs) {
            if (ISLT(key, a[ofs])) break;
            lastofs = ofs;
            ofs = (ofs << 1) + 1;
        }
        if (ofs > maxofs) ofs = maxofs;
        lastofs += hint;
        ofs += hint;
    }
    a -= hint;
    ++lastofs;
    while (lastofs < ofs) {
        int m = lastofs + ((ofs - lastofs) >> 1);
        if (ISLT(key, a[m]))
            ofs = m;
        else
            lastofs = m + 1;
    }
    return ofs;
}

static int getmem(merge_state *ms, int need)
{
    if (need <= ms->alloced) return 0;
    if (ms->a != ms->temparray) free(ms->a);
    ms->a = malloc((size_t)need * sizeof *ms->a);
    if (!ms->a) {
        ms->a = ms->temparray;
        ms->alloced = TEMP_SIZE;
        return -1;
    }
    ms->alloced = need;
    return 0;
}

/* Merges the na items at pa with the nb items following them; na <= nb. */
static int merge_lo(merge_state *ms, int *pa, int na, int *pb, int nb)
{
    if (getmem(ms, na) < 0) return -1;
    memcpy(ms->a, pa, (size_t)na * sizeof *pa);
    int *dest = pa;
    int *ssa = ms->a, *ssb = pb;
    int min_gallop;

    *dest++ = *ssb++;
    --nb;
    if (nb == 0) goto succeed;
    if (na == 1) goto copy_b;

    min_gallop = ms->min_gallop;
    for (;;) {
        int acount = 0, bcount = 0;
        for (;;) {
            if (ISLT(*ssb, *ssa)) {
                *dest++ = *ssb++;
                ++bcount;
                acount = 0;
                --nb;
                if (nb == 0) goto succeed;
                if (bcount >= min_gallop) break;
            } else {
                *dest++ = *ssa++;
                ++acount;
                bcount = 0;
                --na;
                if (na == 1) goto copy_b;
                if (acount >= min_gallop) break;
            }
        }
        ++min_gallop;
        do {
            min_gallop -= min_gallop > 1;
            ms->min_gallop = min_gallop;
            int k = gallop_right(ms, *ssb, ssa, na, 0);
            acount = k;
            if (k) {
                memcpy(dest, ssa, (size_t)k * sizeof *dest);
                dest += k;
                ssa += k;
                na -= k;
                if (na == 1) goto copy_b;
                /* na == 0 is impossible for a consistent comparator; not assumed. */
                if (na == 0) goto succeed;
            }
            *dest++ = *ssb++;
            --nb;
            if (nb == 0) goto succeed;

            k = gallop_left(ms, *ssa, ssb, nb, 0);
            bcount = k;
            if (k) {
                memmove(dest, ssb, (size_t)k * sizeof *dest);
                dest += k;
                ssb += k;
                nb -= k;
                if (nb == 0) goto succeed;
            }
            *dest++ = *ssa++;
            --na;
            if (na == 1) goto copy_b;
        } while (acount >= MIN_GALLOP || bcount >= MIN_GALLOP);
        ++min_gallop;
        ms->min_gallop = min_gallop;
    }
succeed:
    if (na) memcpy(dest, ssa, (size_t)na * sizeof *dest);
    return 0;
copy_b:
    /* The last item of a belongs at the end of the merge. */
    memmove(dest, ssb, (size_t)nb * sizeof *dest);
    dest[nb] = *ssa;
    return 0;
}

/* Merges the na items at pa with the nb items at pb (= pa + na); na > nb. */
static int merge_hi(merge_state *ms, int *pa, int na, int *pb, int nb)
{
    if (getmem(ms, nb) < 0) return -1;
    int *dest = pb + nb - 1;
    memcpy(ms->a, pb, (size_t)nb * sizeof *pb);
    int *basea = pa, *baseb = ms->a;
    int *ssb = ms->a + nb - 1;
    int *ssa = pa + na - 1;
    int min_gallop;

    *dest-- = *ssa--;
    --na;
    if (na == 0) goto succeed;
    if (nb == 1) goto copy_a;

    min_gallop = ms->min_gallop;
    for (;;) {
        int acount = 0, bcount = 0;
        for (;;) {
            if (ISLT(*ssb, *ssa)) {
                *dest-- = *ssa--;
                ++acount;
                bcount = 0;
                --na;
                if (na == 0) goto succeed;
                if (acount >= min_gallop) break;
            } else {
                *dest-- = *ssb--;
                ++bcount;
                acount = 0;
                --nb;
                if (nb == 1) goto copy_a;
                if (bcount >= min_gallop) break;
            }
        }
        ++min_gallop;
        do {
            min_gallop -= min_gallop > 1;
            ms->min_gallop = min_gallop;
            int k = gallop_right(ms, *ssb, basea, na, na - 1);
            k = na - k;
            acount = k;
            if (k) {
                dest -= k;
                ssa -= k;
                memmove(dest + 1, ssa + 1, (size_t)k * sizeof *dest);
                na -= k;
                if (na == 0) goto succeed;
            }
            *dest-- = *ssb--;
            --nb;
            if (nb == 1) goto copy_a;

            k = gallop_left(ms, *ssa, baseb, nb, nb - 1);
            k = nb - k;
            bcount = k;
            if (k) {
                dest -= k;
                ssb -= k;
                memcpy(dest + 1, ssb + 1, (size_t)k * sizeof *dest);
                nb -= k;
                if (nb == 1) goto copy_a;
                /* nb == 0 is impossible for a consistent comparator; not assumed. */
                if (nb == 0) goto succeed;
            }
            *dest-- = *ssa--;
            --na;
            if (na == 0) goto succeed;
        } while (acount >= MIN_GALLOP || bcount >= MIN_GALLOP);
        ++min_gallop;
        ms->min_gallop = min_gallop;
    }
succeed:
    if (nb) memcpy(dest - (nb - 1), baseb, (size_t)nb * sizeof *dest);
    return 0;
copy_a:
    /* The first item of b belongs at the front of the merge. */
    memmove(dest + 1 - na, ssa + 1 - na, (size_t)na * sizeof *dest);
    dest -= na;
    *dest = *ssb;
    return 0;
}

/* Merges pending runs i and i+1. */
static int merge_at(merge_state *ms, int i)
{
    int *pa = ms->items + ms->pending[i].base;
    int na = ms->pending[i].len;
    int *pb = ms->items + ms->pending[i + 1].base;
    int nb = ms->pending[i + 1].len;

    ms->pending[i].len = na + nb;
    if (i == ms->n - 3) ms->pending[i + 1] = ms->pending[i + 2];
    --ms->n;

    int k = gallop_right(ms, *pb, pa, na, 0);
    pa += k;
    na -= k;
    if (na == 0) return 0;
    nb = gallop_left(ms, pa[na - 1], pb, nb, nb - 1);
    if (nb <= 0) return 0;
    return na <= nb ? merge_lo(ms, pa, na, pb, nb) : merge_hi(ms, pa, na, pb, nb);
}

/* Powersort's node power of the boundary between run (s1, n1) and the next n2 items. */
static int powerloop(long s1, long n1, long n2, long n)
{
    int result = 0;
    long a = 2 * s1 + n1;
    long b = a + n1 + n2;
    for (;;) {
        ++result;
        if (a >= n) {
            a -= n;
            b -= n;
        } else if (b >= n) {
            break;
        }
        a <<= 1;
        b <<= 1;
    }
    return result;
}

static int found_new_run(merge_state *ms, int n2)
{
    if (ms->n) {
        run *p = ms->pending;
        int power = powerloop(p[ms->n - 1].base, p[ms->n - 1].len, n2, ms->listlen);
        while (ms->n > 1 && p[ms->n - 2].power > power)
            if (merge_at(ms, ms->n - 2) < 0) return -1;
        p[ms->n - 1].power = power;
    }
    return 0;
}

static int merge_force_collapse(merge_state *ms)
{
    run *p = ms->pending;
    while (ms->n > 1) {
        int n = ms->n - 2;
        if (n > 0 && p[n - 1].len < p[n + 1].len) --n;
        if (merge_at(ms, n) < 0) return -1;
    }
    return 0;
}

int cb_pysort(int *items, int n, cb_pysort_lt lt, const void *ctx)
{
    if (n < 2) return 0;
    merge_state state, *ms = &state;
    ms->items = items;
    ms->listlen = n;
    ms->lt = lt;
    ms->ctx = ctx;
    ms->min_gallop = MIN_GALLOP;
    ms->a = ms->temparray;
    ms->alloced = TEMP_SIZE;
    ms->n = 0;

    int rc = 0;
    int lo = 0, nremaining = n;
    int minrun = compute_minrun(nremaining);
    do {
        int r = count_run(ms, items + lo, nremaining);
        if (r < minrun) {
            int force = nremaining <= minrun ? nremaining : minrun;
            binarysort(ms, items + lo, force, r);
            r = force;
        }
        if ((rc = found_new_run(ms, r)) < 0) goto done;
        ms->pending[ms->n].base = lo;
        ms->pending[ms->n].len = r;
        ++ms->n;
        lo += r;
        nremaining -= r;
    } while (nremaining);
    rc = merge_force_collapse(ms);
done:
    if (ms->a != ms->temparray) free(ms->a);
    return rc;
}
