"""pymatgen's side of bench_matcher, re-measured on one core: StructureMatcher(stol=0.5,
angle_tol=10, ltol=0.3).get_rms_dist and .fit on the pairs of a pair file
(tests/py/matcher_pairs.py), split by pymatgen's own verdict.  The pair file already
records per-pair times, but those were taken by 2 worker processes side by side; this
script times them in one process with nothing else of its own running.

Usage: matcher.py PAIRS_FILE [LIMIT]   (default 600 pairs, every k-th so all families count)
Prints four lines "<call> <verdict> <pairs> <seconds>":
    rms matched|none, fit true|false."""
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
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else 600
    pairs = [b for b in blocks(path) if not any(x.startswith("rms ERROR") for x in b)]
    step = max(1, len(pairs) // limit)
    sm = StructureMatcher(**matcher_pairs.MATCHER)
    tot = {("rms", "matched"): [0, 0.0], ("rms", "none"): [0, 0.0], ("fit", "true"): [0, 0.0],
           ("fit", "false"): [0, 0.0]}
    warm = True
    for b in pairs[::step][:limit]:
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
        k = tot["rms", "none" if r is None else "matched"]
        k[0] += 1
        k[1] += t1 - t0
        k = tot["fit", "true" if f else "false"]
        k[0] += 1
        k[1] += t2 - t1
    for (call, verdict), (n, t) in tot.items():
        print("%s %s %d %.6f" % (call, verdict, n, t))


if __name__ == "__main__":
    main()
