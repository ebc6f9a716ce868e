#!/usr/bin/env python3
"""Random compositions and pymatgen's Composition.reduced_formula, for
tests/test_diff_pymatgen.c (cb_reduced_formula).

    formula_cases.py [N [SEED]]

Prints N lines `formula<TAB>z:amount z:amount ...` (amounts as Python reprs, elements
in the Composition's insertion order) and a final `END<TAB>N`.  Cases mix common
elements with those whose Element.X is NaN (He, Ne, Ar, Z >= 104), whose order
depends on Python's sort; up to all 118 elements, so timsort's merge path runs too;
special formulas (O2, H2O2, ...), polyanions, and non-integer amounts.  A composition
pymatgen rejects prints `ERROR` as the formula.
"""
import random
import sys
import warnings


def main(argv):
    warnings.filterwarnings("ignore")
    from pymatgen.core import Composition, Element

    n = int(argv[1]) if len(argv) > 1 else 20000
    rng = random.Random(int(argv[2]) if len(argv) > 2 else 12345)
    nan_x = [2, 10, 18] + list(range(104, 119))
    common = [1, 3, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 19, 20, 26, 29, 30, 37, 55]
    pools = [common, common + nan_x, list(range(1, 119)), nan_x + [8, 15, 16]]
    odd = [0.5, 0.25, 1.5, 0.1, 1 / 3, 2 / 3, 0.123456789, 1e-9, 2e-8, 1.0000000001,
           2.999999999, 0.001953125, 1234.5678901234, 1e-5, 1.5e-5]
    out = sys.stdout
    for _ in range(n):
        k = rng.choice([1, 1, 2, 2, 3, 3, 4, 5, 6, 8, 12, rng.randint(1, 118)])
        pool = rng.choice(pools)
        zs = rng.sample(pool, min(k, len(pool)))
        amounts = []
        for _z in zs:
            r = rng.random()
            if r < 0.85:
                amounts.append(float(rng.choice([1, 2, 3, 4, 6, 8, 12, rng.randint(1, 40)])))
            elif r < 0.93:
                amounts.append(rng.choice(odd))
            else:
                amounts.append(rng.uniform(0, 10))
        try:
            formula = Composition({Element.from_Z(z): a for z, a in zip(zs, amounts)}).reduced_formula
        except Exception:
            formula = "ERROR"
        out.write("%s\t%s\n" % (formula, " ".join("%d:%r" % (z, a) for z, a in zip(zs, amounts))))
    out.write("END\t%d\n" % n)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
