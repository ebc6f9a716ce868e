#!/usr/bin/python3
"""pymatgen reference numbers for tests/test_reduce.c and tests/test_pbc.c.

Run with Debian's python3 (pymatgen 2022.11.7).  Reads crystals, writes one record per
crystal with pymatgen's results.  Floats are written with repr(), so C's strtod gets
the identical double.

  reduce_reference.py eval FILE [--sg-every K]
      FILE holds records written by the C test (lattice and sites only).
  reduce_reference.py mp20 CSV --every K [--limit N] [--sg-every K]
      every K-th row of a CDVAE CSV, parsed by pymatgen's CIF parser.

Record layout (one "key values..." line each; absent keys = not computed):
  BEGIN <id>
  lattice 9                  row-major, rows are vectors
  sites n                    then n lines "Z fx fy fz"
  -- results --
  lll 9 / lllmap 9 / lllinv 9
  niggli 9 | niggli_error <message>
  reduced 9 and reduced_frac n*3 (Structure.get_reduced_structure())
  dmat n*n                   Structure.distance_matrix
  inv 9, recip 9             Lattice.inv_matrix, Lattice.reciprocal_lattice
  cart_sites n*3             Structure.cart_coords (one numpy dot per site)
  cart_rows, frac_rows n*3   Lattice.get_cartesian_coords(frac) / get_fractional_coords(cart), 2-D
  lllfrac n*3                Lattice.get_lll_frac_coords(frac_coords)
  psv_f2 m m*3, psv_mask n*m, psv_tol 3, psv_d2 n*m, psv_vec n*m*3
                             pbc_shortest_vectors(lattice, frac, f2, mask, True, tol)
  sphere_center 3, sphere_r r, sphere k*8 ("index img0 img1 img2 dist f0 f1 f2")
  maps_other 9, maps_ltol, maps_atol, maps k*9   find_all_mappings(reduced, other)
  sg n                       SpacegroupAnalyzer(s, symprec=0.1).get_space_group_number()
  prim_lattice 9, prim_z, prim_frac   ... .find_primitive()
  spg_niggli 9               spglib.niggli_reduce(lattice, 1e-5)
  END
"""
import argparse
import csv
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")

from pymatgen.core import Lattice, Structure  # noqa: E402
from pymatgen.util.coord_cython import pbc_shortest_vectors  # noqa: E402


def fmt(values):
    return " ".join(repr(float(v)) for v in np.asarray(values, dtype=float).ravel())


def read_records(path):
    """Records written by the C test: lattice, sites, and optional sphere query."""
    recs, cur = [], None
    with open(path) as f:
        lines = iter(f.read().splitlines())
        for line in lines:
            tok = line.split()
            if not tok:
                continue
            if tok[0] == "BEGIN":
                cur = {"id": tok[1]}
            elif tok[0] == "lattice":
                cur["lattice"] = np.array([float(x) for x in tok[1:10]]).reshape(3, 3)
            elif tok[0] == "sites":
                n = int(tok[1])
                zs, fr = [], []
                for _ in range(n):
                    t = next(lines).split()
                    zs.append(int(t[0]))
                    fr.append([float(x) for x in t[1:4]])
                cur["z"], cur["frac"] = zs, np.array(fr).reshape(n, 3)
            elif tok[0] == "sphere_center":
                cur["sphere_center"] = [float(x) for x in tok[1:4]]
            elif tok[0] == "sphere_r":
                cur["sphere_r"] = float(tok[1])
            elif tok[0] == "END":
                recs.append(cur)
    return recs


def emit(out, rec, rng, want_sg, what):
    L = Lattice(rec["lattice"])
    w = out.write
    w(f"BEGIN {rec['id']}\n")
    w(f"lattice {fmt(L.matrix)}\n")
    zs, frac = rec.get("z", []), rec.get("frac")
    w(f"sites {len(zs)}\n")
    for z, f in zip(zs, frac if frac is not None else []):
        w(f"{z} {fmt(f)}\n")

    w(f"lll {fmt(L.lll_matrix)}\n")
    w(f"lllmap {fmt(L.lll_mapping)}\n")
    w(f"lllinv {fmt(L.lll_inverse)}\n")
    if "reduce" in what:
        try:
            w(f"niggli {fmt(L.get_niggli_reduced_lattice().matrix)}\n")
        except Exception as e:  # pymatgen's "can't find niggli" and numerical failures
            w(f"niggli_error {type(e).__name__}\n")

    if "sphere_r" in rec and "reduce" in what:
        c, r = rec["sphere_center"], rec["sphere_r"]
        pts = L.get_points_in_sphere(frac, c, r, zip_results=False)
        w(f"sphere_center {fmt(c)}\nsphere_r {r!r}\n")
        if len(pts[0]) == 0:
            w("sphere 0\n")
        else:
            fc, d, idx, img = pts
            rows = [[i, *im, dd, *ff] for i, im, dd, ff in zip(idx, img, d, fc)]
            w(f"sphere {len(rows)} {fmt(rows)}\n")

    if not zs:
        w("END\n")
        return
    s = Structure(L, zs, frac)
    if "reduce" in what:
        emit_reduced(w, s, rng)
    if "pbc" in what:
        emit_pbc(w, s, L, rng)
    if want_sg:
        emit_sg(w, s, L)
    w("END\n")


def emit_reduced(w, s, rng):
    try:
        red = s.get_reduced_structure()
        w(f"reduced {fmt(red.lattice.matrix)}\n")
        w(f"reduced_frac {fmt(red.frac_coords)}\n")
        # Lattice mappings as the matcher asks for them, onto a strained copy.
        strain = np.eye(3) + rng.uniform(-0.04, 0.04, (3, 3))
        other = Lattice(np.dot(red.lattice.matrix, strain))
        maps = [m[2] for m in red.lattice.find_all_mappings(other, 0.3, 10, skip_rotation_matrix=True)]
        w(f"maps_other {fmt(other.matrix)}\nmaps_ltol 0.3\nmaps_atol 10.0\n")
        w(f"maps {len(maps)} {fmt(maps)}\n" if maps else "maps 0\n")
    except Exception as e:
        w(f"reduced_error {type(e).__name__}\n")


def emit_pbc(w, s, L, rng):
    w(f"dmat {fmt(s.distance_matrix)}\n")
    w(f"inv {fmt(L.inv_matrix)}\nrecip {fmt(L.reciprocal_lattice.matrix)}\n")
    w(f"cart_sites {fmt(s.cart_coords)}\ncart_rows {fmt(L.get_cartesian_coords(s.frac_coords))}\n")
    w(f"frac_rows {fmt(L.get_fractional_coords(s.cart_coords))}\n")
    w(f"lllfrac {fmt(L.get_lll_frac_coords(s.frac_coords))}\n")

    # pbc_shortest_vectors with a mask and an LLL fractional tolerance, against a
    # second random set (as the matcher's _cart_dists calls it).
    n, m = len(s), int(rng.integers(1, 6))
    f2 = rng.uniform(-1.5, 2.5, (m, 3))
    mask = (rng.random((n, m)) < 0.25).astype(int)
    tol = rng.uniform(0.1, 0.6, 3)
    v, d2 = pbc_shortest_vectors(L, s.frac_coords, f2, mask, return_d2=True, lll_frac_tol=tol)
    w(f"psv_f2 {m} {fmt(f2)}\npsv_mask {' '.join(str(x) for x in mask.ravel())}\n")
    w(f"psv_tol {fmt(tol)}\npsv_d2 {fmt(d2)}\npsv_vec {fmt(v)}\n")


def emit_sg(w, s, L):
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer
    import spglib

    try:
        sga = SpacegroupAnalyzer(s, symprec=0.1)
        w(f"sg {sga.get_space_group_number()}\n")
        p = sga.find_primitive()
        w(f"prim_lattice {fmt(p.lattice.matrix)}\nprim_z {' '.join(str(x.Z) for x in p.species)}\n")
        w(f"prim_frac {fmt(p.frac_coords)}\n")
    except Exception as e:
        w(f"sg_error {type(e).__name__}\n")
    red = spglib.niggli_reduce(L.matrix, eps=1e-5)
    if red is not None:
        w(f"spg_niggli {fmt(red)}\n")


def mp20_records(path, every, limit):
    with open(path, newline="") as f:
        for k, row in enumerate(csv.DictReader(f)):
            if k % every:
                continue
            if limit and k // every >= limit:
                break
            s = Structure.from_str(row["cif"], fmt="cif")
            yield {
                "id": f"{row['material_id']}#{k}",
                "lattice": s.lattice.matrix,
                "z": [site.specie.Z for site in s],
                "frac": s.frac_coords,
            }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["eval", "mp20"])
    ap.add_argument("path")
    ap.add_argument("--every", type=int, default=1)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--sg-every", type=int, default=0, help="space groups for every K-th record (0 = none)")
    ap.add_argument("--what", default="reduce,pbc", help="result groups: reduce (LLL, Niggli, sphere, mappings), pbc")
    a = ap.parse_args()
    rng = np.random.default_rng(20240611)
    recs = read_records(a.path) if a.mode == "eval" else mp20_records(a.path, a.every, a.limit)
    out = sys.stdout
    for k, rec in enumerate(recs):
        emit(out, rec, rng, a.sg_every > 0 and k % a.sg_every == 0, a.what.split(","))
    out.flush()


if __name__ == "__main__":
    main()
