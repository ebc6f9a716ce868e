#!/usr/bin/python3
"""pymatgen reference numbers for tests/test_order_params.c (metrics.md §4.1, §4.4).

Run with Debian's python3 (pymatgen 2022.11.7).  Floats are written with repr(), so
C's strtod gets the identical double.

  order_params_reference.py ops [--seed S]
      The order parameters of matminer's CrystalNNFingerprint 'ops' preset, built the
      way matminer builds them (one LocalStructOrderParams([type], parameters=[p]) per
      motif, p from pymatgen's cn_opt_params.yaml or None = op_params.yaml defaults),
      evaluated on seeded neighbour configurations: random directions, ideal polyhedra
      (exact, rotated, distorted) and degenerate sets (collinear, antipodal and
      repeated directions, directions 1e-13 .. 1e-8 apart around the 1e-12 flags).
      Each configuration is evaluated like matminer's featurize does it: the center
      followed by the neighbours as a list of sites, indices_neighs = 1..n.

  order_params_reference.py sites REFERENCE_JSON
      For every crystals[] record: the Structure from lattice_matrix_from_parameters,
      atom_types and frac_coords, and for each site pymatgen's
      CrystalNN().get_nn_data(s, n) — the cn_weights and the cn_nninfo neighbour
      positions in stored order, i.e. everything the site fingerprint consumes.

Output, one item per line:
  PRESET cn index type [key=value ...]   the preset (wt excluded) and its parameter dict
  CFG cn n tag                           a configuration for the ops of preset[cn] ...
  X cx cy cz                             ... its center,
  N x y z                                ... n neighbour lines,
  VAL v ...                              ... one value per op of preset[cn] ('None')
  REC name nsites                        a crystal record (sites mode) ...
  SITE index cx cy cz                    ... a site and its center,
  W cn weight n                          ... a CN with weight > 0 (1 <= cn <= 24) and
  N x y z                                ... its n neighbours,
  FAIL name message                      CrystalNN raised for this record.
"""
import argparse
import json
import math
import os
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")

import pymatgen.analysis.local_env  # noqa: E402
import yaml  # noqa: E402
from pymatgen.analysis.local_env import CrystalNN, LocalStructOrderParams  # noqa: E402
from pymatgen.core import Lattice, Molecule, Structure  # noqa: E402

# matminer 0.9.0 featurizers/site/cn_target_motif_op.yaml ("wt" is inserted first)
CN_TARGET_MOTIF_OP = {
    1: ["sgl_bd"],
    2: ["L-shaped", "water-like", "bent 120 degrees", "bent 150 degrees", "linear"],
    3: ["trigonal planar", "trigonal non-coplanar", "T-shaped"],
    4: ["square co-planar", "tetrahedral", "rectangular see-saw-like", "see-saw-like", "trigonal pyramidal"],
    5: ["pentagonal planar", "square pyramidal", "trigonal bipyramidal"],
    6: ["hexagonal planar", "octahedral", "pentagonal pyramidal"],
    7: ["hexagonal pyramidal", "pentagonal bipyramidal"],
    8: ["body-centered cubic", "hexagonal bipyramidal"],
    9: ["q2", "q4", "q6"],
    10: ["q2", "q4", "q6"],
    11: ["q2", "q4", "q6"],
    12: ["cuboctahedral", "q2", "q4", "q6"],
}


def r(x):
    return repr(float(x))


def build_preset():
    """{cn: [(type, params or None, LocalStructOrderParams)]} as matminer's
    CrystalNNFingerprint.__init__ builds it from pymatgen's cn_opt_params.yaml."""
    path = os.path.join(os.path.dirname(pymatgen.analysis.local_env.__file__), "cn_opt_params.yaml")
    with open(path) as f:
        cn_motif_op_params = yaml.safe_load(f)
    preset = {}
    for cn, motifs in CN_TARGET_MOTIF_OP.items():
        preset[cn] = []
        for t in motifs:
            ot, p = t, None
            if cn in cn_motif_op_params and t in cn_motif_op_params[cn]:
                ot = cn_motif_op_params[cn][t][0]
                if len(cn_motif_op_params[cn][t]) > 1:
                    p = cn_motif_op_params[cn][t][1]
            op = LocalStructOrderParams([ot], parameters=[p])
            preset[cn].append((ot, op.get_parameters(0), op))
    return preset


def print_preset(preset, out):
    for cn, ops in preset.items():
        for i, (t, params, _) in enumerate(ops):
            kv = " ".join(f"{k}={r(v)}" for k, v in (params or {}).items())
            out.append(f"PRESET {cn} {i} {t} {kv}".rstrip())


# ---- neighbour configurations (unit directions; radii and center added later) ----


def unit(v):
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def ring(k, z=0.0, phase=0.0):
    a = phase + 2 * np.pi * np.arange(k) / k
    return np.stack([np.cos(a), np.sin(a), np.full(k, z)], axis=1)


def axial(top=True, bottom=True):
    out = []
    if top:
        out.append([0.0, 0.0, 1.0])
    if bottom:
        out.append([0.0, 0.0, -1.0])
    return np.array(out).reshape(-1, 3)


OCT = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=float)
TET = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=float)
CUBE = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=float)
CUBOCT = np.array(
    [[a, b, 0] for a in (-1, 1) for b in (-1, 1)]
    + [[a, 0, b] for a in (-1, 1) for b in (-1, 1)]
    + [[0, a, b] for a in (-1, 1) for b in (-1, 1)],
    dtype=float,
)
PHI_G = (1 + 5**0.5) / 2
ICOS = np.array(
    [[0, a, b * PHI_G] for a in (-1, 1) for b in (-1, 1)]
    + [[a, b * PHI_G, 0] for a in (-1, 1) for b in (-1, 1)]
    + [[b * PHI_G, 0, a] for a in (-1, 1) for b in (-1, 1)],
    dtype=float,
)
# hcp: hexagon in the plane, triangles above and below (eclipsed)
HCP = np.vstack([ring(6), ring(3, 0.816, np.pi / 6), ring(3, -0.816, np.pi / 6)])
TRIPRISM = np.vstack([ring(3, 0.8), ring(3, -0.8)])


def ideal_shapes():
    """{cn: [(name, directions)]}: the preset's motifs and other common polyhedra."""
    deg = np.pi / 180
    bent = lambda a: np.array([[0, 0, 1.0], [np.sin(a * deg), 0, np.cos(a * deg)]])  # noqa: E731
    s = {
        1: [("single", axial(True, False))],
        2: [(f"bent{a}", bent(a)) for a in (60, 90, 104.45, 120, 150, 180)],
        3: [("trig_planar", ring(3)), ("T", OCT[[0, 1, 2]]), ("tri_pyr", TET[:3]), ("fac_oct", OCT[[0, 2, 4]])],
        4: [
            ("tet", TET),
            ("sq_plan", ring(4)),
            ("see_saw_rect", OCT[[0, 1, 2, 4]]),
            ("see_saw", np.vstack([axial(), ring(2, 0, 0)[:1], [[np.cos(2.1), np.sin(2.1), 0]]])),
            ("tri_pyr", np.vstack([axial(True, False), ring(3, -0.33)])),
        ],
        5: [("pent_plan", ring(5)), ("sq_pyr", OCT[:5]), ("tri_bipyr", np.vstack([axial(), ring(3)]))],
        6: [("hex_plan", ring(6)), ("oct", OCT), ("pent_pyr", np.vstack([axial(True, False), ring(5)])),
            ("tri_prism", TRIPRISM)],
        7: [("hex_pyr", np.vstack([axial(True, False), ring(6)])), ("pent_bipyr", np.vstack([axial(), ring(5)])),
            ("capped_oct", np.vstack([OCT, [[1, 1, 1]]]))],
        8: [("bcc", CUBE), ("hex_bipyr", np.vstack([axial(), ring(6)])),
            ("sq_antiprism", np.vstack([ring(4, 0.7), ring(4, -0.7, np.pi / 4)]))],
        9: [("tricapped_prism", np.vstack([TRIPRISM, ring(3, 0, np.pi / 3)])), ("cuboct-3", CUBOCT[:9])],
        10: [("bicapped_antiprism", np.vstack([axial(), ring(4, 0.5), ring(4, -0.5, np.pi / 4)])),
             ("icos-2", ICOS[:10])],
        11: [("cuboct-1", CUBOCT[1:]), ("icos-1", ICOS[1:])],
        12: [("cuboct", CUBOCT), ("icos", ICOS), ("hcp", HCP), ("hex_prism", np.vstack([ring(6, 0.6),
                                                                                           ring(6, -0.6)]))],
    }
    return {cn: [(name, unit(d)) for name, d in shapes] for cn, shapes in s.items()}


def random_rotation(rng):
    q = rng.normal(size=4)
    a, b, c, d = q / np.linalg.norm(q)
    return np.array([
        [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
        [2 * (b * c + a * d), a * a - b * b + c * c - d * d, 2 * (c * d - a * b)],
        [2 * (b * d - a * c), 2 * (c * d + a * b), a * a - b * b - c * c + d * d],
    ])


def degenerate_sets(rng, n):
    """Directions that exercise pymatgen's 1e-12 flags and clipping: collinear,
    antipodal pairs, repeated directions, and directions eps apart around the flag
    threshold (|g| ~ eps)."""
    out = []
    z = unit(rng.normal(size=3))
    out.append(("collinear", np.array([z if i % 2 == 0 else -z for i in range(n)])))
    out.append(("same_dir", np.array([z] * n)))
    out.append(("axis_z", np.array([[0, 0, 1.0] if i % 2 else [0, 0, -1.0] for i in range(n)])))
    base = unit(rng.normal(size=(max(1, (n + 1) // 2), 3)))
    out.append(("repeated", np.array([base[i % len(base)] for i in range(n)])))
    anti = unit(rng.normal(size=(max(1, (n + 1) // 2), 3)))
    out.append(("antipodal", np.array([anti[i // 2] * (1 if i % 2 == 0 else -1) for i in range(n)])))
    for eps in (1e-14, 1e-13, 3e-12, 1e-11, 1e-8):
        d = unit(rng.normal(size=(n, 3)))
        for i in range(1, n, 2):  # every odd direction a tiny tilt off the previous one
            p = unit(np.cross(d[i - 1], rng.normal(size=3)))
            d[i] = d[i - 1] + eps * p
        out.append((f"near{eps:g}", d))
    return out


class Maker:
    """Turns directions into (center, neighbours) with seeded radii, offsets, noise."""

    def __init__(self, rng):
        self.rng = rng

    def place(self, dirs, radius="equal", noise=0.0, rotate=False, offset=False):
        rng = self.rng
        d = np.array(dirs, dtype=float).reshape(-1, 3)
        if rotate:
            d = d @ random_rotation(rng).T
        n = len(d)
        if radius == "equal":
            rad = np.full(n, 2.0)
        else:
            rad = rng.uniform(1.2, 3.5, size=n)
        pts = d * rad[:, None]
        if noise:
            pts = pts + noise * rng.normal(size=pts.shape)
        center = rng.uniform(-6, 6, size=3) if offset else np.zeros(3)
        return center, pts + center


def evaluate(ops, center, pts):
    """matminer's call: [center] + neighbour sites, indices 1..n (a Molecule here, whose
    site coords are the given numbers)."""
    mol = Molecule(["H"] * (len(pts) + 1), np.vstack([center, pts]) if len(pts) else np.array([center]))
    sites = [mol[i] for i in range(len(mol))]
    vals = []
    for _, _, op in ops:
        v = op.get_order_parameters(sites, 0, indices_neighs=list(range(1, len(pts) + 1)))[0]
        vals.append("None" if v is None else r(v))
    return [s.coords for s in sites], vals


def emit_config(out, cn, tag, coords, vals):
    out.append(f"CFG {cn} {len(coords) - 1} {tag}")
    out.append("X " + " ".join(r(x) for x in coords[0]))
    for c in coords[1:]:
        out.append("N " + " ".join(r(x) for x in c))
    out.append("VAL " + " ".join(vals))


def run_ops(seed):
    rng = np.random.default_rng(seed)
    mk = Maker(rng)
    preset = build_preset()
    out = []
    print_preset(preset, out)
    shapes = ideal_shapes()
    for cn, ops in preset.items():
        cheap = cn <= 7 or cn in (9, 10, 11)  # pymatgen's O(n³) Python loops: fewer for 8, 12
        configs = []
        # random directions, random radii
        for i in range(250 if cheap else 100):
            configs.append((f"random{i}", mk.place(unit(rng.normal(size=(cn, 3))), radius="random",
                                                   offset=i % 2 == 1)))
        # ideal polyhedra of this CN (and of the other CNs, cut down / padded to cn)
        for name, dirs in shapes.get(cn, []):
            for rot in (False, True):
                for noise in (0.0, 1e-6, 1e-3, 0.03, 0.1):
                    for rad in ("equal", "random"):
                        if rad == "random" and noise > 1e-3:
                            continue
                        configs.append((f"{name}_rot{int(rot)}_n{noise:g}_{rad}",
                                        mk.place(dirs, radius=rad, noise=noise, rotate=rot, offset=rot)))
        for other, lst in shapes.items():
            if other == cn or abs(other - cn) > 2:
                continue
            for name, dirs in lst:
                d = dirs[:cn] if len(dirs) >= cn else np.vstack([dirs, unit(rng.normal(size=(cn - len(dirs), 3)))])
                configs.append((f"from{other}_{name}", mk.place(d, noise=0.01, rotate=True, offset=True)))
        # degenerate sets
        for name, dirs in degenerate_sets(rng, cn):
            for rad in ("equal", "random"):
                configs.append((f"{name}_{rad}", mk.place(dirs, radius=rad)))
        # other neighbour counts than cn (the C function is generic; None branches at n = 0, 1, 3)
        for n in range(0, 13):
            if n == cn or (not cheap and n > 9):
                continue
            configs.append((f"count{n}", mk.place(unit(rng.normal(size=(n, 3))) if n else np.zeros((0, 3)),
                                                  radius="random", offset=True)))
        for tag, (center, pts) in configs:
            coords, vals = evaluate(ops, center, pts)
            emit_config(out, cn, tag, coords, vals)
    return out


# ---- site environments of the reference crystals ----


def run_sites(path):
    with open(path) as f:
        data = json.load(f)
    cnn = CrystalNN()  # matminer's CrystalNNFingerprint.from_preset('ops') uses the defaults
    out = []
    for rec in data["crystals"]:
        name = rec["name"]
        try:
            s = Structure(Lattice(rec["lattice_matrix_from_parameters"]), rec["atom_types"], rec["frac_coords"])
            lines = [f"REC {name} {len(s)}"]
            for n in range(len(s)):
                nn = cnn.get_nn_data(s, n)
                lines.append(f"SITE {n} " + " ".join(r(x) for x in s[n].coords))
                for cn in sorted(nn.cn_weights):
                    wt = nn.cn_weights[cn]
                    if not 1 <= cn <= 24 or wt == 0:
                        continue
                    info = nn.cn_nninfo[cn]
                    lines.append(f"W {cn} {r(wt)} {len(info)}")
                    lines.extend("N " + " ".join(r(x) for x in d["site"].coords) for d in info)
            out.extend(lines)
        except Exception as e:  # noqa: BLE001 — matminer turns any exception into "invalid"
            out.append(f"FAIL {name} {type(e).__name__}")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("ops")
    p.add_argument("--seed", type=int, default=20240612)
    p = sub.add_parser("sites")
    p.add_argument("json")
    a = ap.parse_args()
    out = run_ops(a.seed) if a.cmd == "ops" else run_sites(a.json)
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
