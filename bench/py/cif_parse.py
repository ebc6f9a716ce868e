"""pymatgen's side of bench_cif_parse: seconds per Structure.from_str(cif, 'cif') over
the rows of a dataset CSV (CSV reading not timed).  Prints one number.
Usage: cif_parse.py CSV [MAX_ROWS]   (default: 2000 rows, enough for a stable rate)"""
import csv
import sys
import time
import warnings

from pymatgen.core import Structure

warnings.filterwarnings("ignore")
path = sys.argv[1]
limit = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
csv.field_size_limit(1 << 30)
with open(path, newline="") as f:
    cifs = [row["cif"] for _, row in zip(range(limit), csv.DictReader(f))]
t0 = time.perf_counter()
for text in cifs:
    Structure.from_str(text, fmt="cif")
print((time.perf_counter() - t0) / len(cifs))
