"""pymatgen's side of bench_matcher, re-measured on one core: StructureMatcher(stol=0.5,
angle_tol=10, ltol=0.3).get_rms_dist and .fit on the pairs of a pair file
(tests/py/matcher_pairs.py), split by pymatgen's own verdict.  The pair file already
records per-pair times, but those were taken by 2 worker processes side by side; this
script times them in one process with nothing else of its own running.

Usage: matcher.py PAIRS_FILE [LIMIT]   (default: every pair; else LIMIT pairs, every k-th so
all families count)
Prints a line per pair and call, "t <pair id> rms|fit <verdict> <seconds>" (verdict:
matched|none for rms, true|false for fit), so that the caller can compare on exactly
these pairs.  Run it single-threaded (OPENBLAS_NUM_THREADS=1), as crystalbench is timed:
numpy's BLAS threads only slow these tiny matrices down."""
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "py"))
import matcher_pairs  # noqa: E402  (the format's parser)

warnings.filterwarnings("ignore")
from pymatgen.analysis.structure_matcher import StructureMatcher  # noqa: E402


def blocks(path):
    block = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("pair "):
                block = [line]
            elif block:
                if line == "end":
                    yield block
                    block = []
                else:
                    block.append(line)


def main():
    path = sys.argv[1]
    pairs = [b for b in blocks(path) if not any(x.startswith("rms ERROR") for x in b)]
    limit = int(sys.argv[2]) if len(sys.argv) > 2 and int(sys.argv[2]) > 0 else len(pairs)
    step = max(1, len(pairs) // limit)
    sm = StructureMatcher(**matcher_pairs.MATCHER)
    warm = True
    for b in pairs[::step][:limit]:
        pair_id = int(b[0].split()[1])
        s1, i = matcher_pairs.parse_struct(b, 1)
        s2, _ = matcher_pairs.parse_struct(b, i)
        a, c = matcher_pairs._structure(s1), matcher_pairs._structure(s2)
        if warm:  # lazy imports are not the matcher's cost
            sm.get_rms_dist(a, c)
            sm.fit(a, c)
            warm = False
        t0 = time.perf_counter()
        r = sm.get_rms_dist(a, c)
        t1 = time.perf_counter()
        f = sm.fit(a, c)
        t2 = time.perf_counter()
        print("t %d rms %s %.9f" % (pair_id, "none" if r is None else "matched", t1 - t0))
        print("t %d fit %s %.9f" % (pair_id, "true" if f else "false", t2 - t1))


if __name__ == "__main__":
    main()
