"""Structure fingerprints of dataset rows as the reference computes them: matminer's
CrystalNNFingerprint 'ops' featurize averaged over sites (bench/py/fingerprint.py, a loop
over pymatgen's CrystalNN and LocalStructOrderParams), for every k-th row of the four
test splits.

Usage: struct_fp_reference.py --data DIR --cache-dir DIR
Prints the path of a file with lines "<dataset> <row> <61 numbers>" or
"<dataset> <row> FAIL <exception>"; the file is reused while this script and the data
are unchanged (key: their SHA-256)."""
import csv
import hashlib
import os
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench", "py"))
warnings.filterwarnings("ignore")
import refcache  # noqa: E402

# (dataset, every k-th row of test.csv): ~240 structures, ~1 minute of pymatgen
PLAN = [("mp_20", 60), ("perov_5", 120), ("carbon_24", 150), ("mpts_52", 300)]


def key(data_dir):
    h = hashlib.sha256()
    for path in [os.path.abspath(__file__), os.path.join(HERE, "..", "..", "bench", "py", "fingerprint.py")]:
        h.update(open(path, "rb").read())
    for ds, k in PLAN:
        h.update(("%s %d " % (ds, k)).encode())
        h.update(open(os.path.join(data_dir, ds, "test.csv"), "rb").read())
    return h.hexdigest()[:16]


def generate(path, data_dir):
    from fingerprint import fingerprint
    from order_params_reference import build_preset
    from pymatgen.analysis.local_env import CrystalNN
    from pymatgen.core import Structure

    csv.field_size_limit(1 << 30)
    cnn, preset = CrystalNN(), build_preset()
    lines = []
    for ds, k in PLAN:
        with open(os.path.join(data_dir, ds, "test.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        for i in range(0, len(rows), k):
            s = Structure.from_str(rows[i]["cif"], fmt="cif")
            try:
                fp = fingerprint(s, cnn, preset)
                lines.append("%s %d %s" % (ds, i, " ".join(repr(float(x)) for x in fp)))
            except Exception as e:  # noqa: BLE001 - any exception makes the crystal invalid
                lines.append("%s %d FAIL %s" % (ds, i, type(e).__name__))
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\nEND\n")
    os.replace(tmp, path)


def main(argv):
    opts = dict(zip(argv[1::2], argv[2::2]))
    data_dir, cache = opts.get("--data"), opts.get("--cache-dir")
    if not data_dir or not cache:
        sys.stderr.write(__doc__)
        return 2
    os.makedirs(cache, exist_ok=True)
    path = os.path.join(os.path.abspath(cache), "struct_fp_reference.%s.txt" % key(data_dir))
    if not refcache.complete(path):
        generate(path, data_dir)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
