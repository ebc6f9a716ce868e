#!/usr/bin/env python3
"""Per-row structure facts from pymatgen, for tests/test_diff_pymatgen.c.

    structure_facts.py DATASET.csv[.gz]

Reads the CSV with the csv module, parses each row's `cif` column with
pymatgen Structure.from_str(cif, "cif") (no primitive reduction) and prints, per data
row (1-based, as cb_reader_record counts them):

    row<TAB>volume<TAB>density<TAB>reduced_formula<TAB>nsites

with volume and density as Python reprs (exact doubles).  A row pymatgen cannot parse
prints `row<TAB>ERROR<TAB>message`.  The last line is `END<TAB>rows` so a truncated
output (killed job) is detectable.  Needs python3 with pymatgen (Debian's).
"""
import csv
import gzip
import sys
import warnings


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: structure_facts.py DATASET.csv[.gz]\n")
        return 2
    warnings.filterwarnings("ignore")
    from pymatgen.core import Structure

    csv.field_size_limit(1 << 30)
    path = argv[1]
    opener = gzip.open if path.endswith(".gz") else open
    out = sys.stdout
    rows = 0
    with opener(path, "rt", newline="") as f:
        for rows, rec in enumerate(csv.DictReader(f), 1):
            try:
                s = Structure.from_str(rec["cif"], fmt="cif")
                line = "%d\t%r\t%r\t%s\t%d" % (
                    rows, float(s.volume), float(s.density), s.composition.reduced_formula, len(s))
            except Exception as e:  # report, never stop: the C side compares row by row
                msg = " ".join(("%s: %s" % (type(e).__name__, e)).split())
                line = "%d\tERROR\t%s" % (rows, msg)
            out.write(line + "\n")
    out.write("END\t%d\n" % rows)
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
