"""The reference structure fingerprint, timed: matminer's
CrystalNNFingerprint.from_preset('ops').featurize for every site (CrystalNN().get_nn_data,
then the preset's LocalStructOrderParams on each coordination environment, as matminer
0.9 does), averaged over sites as CDVAE's evaluation does.  matminer itself is not a
Debian package; its featurize is a thin loop over these pymatgen calls, reproduced here
(tests/test_order_params.c checks this assembly against matminer's stored output).

Usage: fingerprint.py CSV COUNT    (every k-th row, so COUNT rows spread over the file)
Prints "<structures> <sites> <seconds>" (one process, one thread: run it with
OPENBLAS_NUM_THREADS=1)."""
import csv
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "py"))
warnings.filterwarnings("ignore")
from order_params_reference import build_preset  # noqa: E402
from pymatgen.analysis.local_env import CrystalNN  # noqa: E402
from pymatgen.core import Structure  # noqa: E402


def fingerprint(s, cnn, preset):
    rows = []
    for idx in range(len(s)):
        nn = cnn.get_nn_data(s, idx)
        fp = []
        for cn in range(1, 25):
            wt = nn.cn_weights.get(cn, 0)
            fp.append(wt)
            for _, _, op in preset.get(cn, []):
                if wt == 0:
                    fp.append(0)
                    continue
                neigh = [d["site"] for d in nn.cn_nninfo[cn]]
                v = op.get_order_parameters([s[idx]] + neigh, 0, indices_neighs=list(range(1, len(neigh) + 1)))[0]
                fp.append(wt * (v or 0))
        rows.append(fp)
    return [sum(col) / len(rows) for col in zip(*rows)]


def main():
    path, count = sys.argv[1], int(sys.argv[2])
    csv.field_size_limit(1 << 30)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    step = max(1, len(rows) // count)
    structs = [Structure.from_str(r["cif"], fmt="cif") for r in rows[::step][:count]]
    cnn, preset = CrystalNN(), build_preset()
    fingerprint(structs[0], cnn, preset)  # imports and yaml loading are not the cost
    t0 = time.perf_counter()
    for s in structs:
        fingerprint(s, cnn, preset)
    dt = time.perf_counter() - t0
    print(len(structs), sum(len(s) for s in structs), "%.6f" % dt)


if __name__ == "__main__":
    main()
