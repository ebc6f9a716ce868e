/* Private: a replica of CPython 3.11's list.sort (timsort with powersort merging), so that
 * sorts whose comparison is not a total order (keys containing NaN) give the same
 * permutation as pymatgen running on Python 3.11 (Debian 12's python3).
 *
 * Only `lt` is called, in the same sequence as CPython calls `<`, so any comparator gives
 * the identical result.  With a consistent strict weak order this is just a stable sort. */
#ifndef CB_PYSORT_H
#define CB_PYSORT_H

/* Returns non-zero iff item a < item b. */
typedef int (*cb_pysort_lt)(int a, int b, const void *ctx);

/* Sorts items[0..n-1] in place.  Returns 0, or -1 when temporary memory (needed only for
 * n > 512) cannot be allocated, in which case items is left in some permutation of the
 * input. */
int cb_pysort(int *items, int n, cb_pysort_lt lt, const void *ctx);

#endif
