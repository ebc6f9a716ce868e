#!/usr/bin/env python3
"""pymatgen's VoronoiNN neighbours and CrystalNN.get_nn_data per site, for
tests/test_crystalnn.c (metrics.md §4.2–4.3).

    crystalnn_reference.py [--full] [--cache-dir DIR] [--data DIR]
        Prints the path of the reference file, making it first unless a complete one is
        cached: DIR/crystalnn_reference.<key>.txt, where key hashes this script, the
        mode and the sizes of the input CSVs (DIR defaults to $CB_BUILD_DIR; --data to
        $CB_SHARED_DIR/data, else ../shared/data).  The cache is checked before pymatgen
        is imported, so a re-run costs ~0.1 s.

Structures: every STRIDE-th row of the test split of each dataset (DATASETS below),
parsed with Structure.from_str(cif, fmt="cif"), then ~150 synthetic structures (dataset
"synthetic", row = 1-based index; see synthetic()): ideal lattices, the same with noise
from 1e-9 to 1e-3 Å (near-degenerate cells), layers, chains and isolated atoms in vacuum
(the cutoff doubles), random cells with close contacts, elements without electronegativity
or radius.  Per structure the sites 0..n-1 when n <= MAX_SITES, else MAX_SITES evenly
spaced ones.  About 700 structures and 3,800 sites, ~45 s of pymatgen.  --full (or
CB_FULL=1 in the environment): a quarter of the strides and every site (~8 minutes).

Per site, CrystalNN().get_nn_data(structure, site) is called once; the VoronoiNN
neighbour list it is built from is captured on the way (VoronoiNN.get_nn_info wrapped),
with the last radius given to get_sites_in_sphere.

File format (text; floats are Python reprs, i.e. exact):

    S <dataset> <row> <nsites>     row: 1-based data row of the CSV (cb_reader_record),
                                   or the index of a synthetic structure
    L <9 numbers>                  lattice matrix, rows
    A <Z> <fa> <fb> <fc>           nsites lines: the sites as pymatgen parsed them
    T <site> <R> <nvoro>           a computed site: final Voronoi radius, VoronoiNN count
    V <solid_angle> <area> <x> <y> <z>      nvoro lines, VoronoiNN order (Qhull's)
    N <weight> <x> <y> <z>         NNData.all_nninfo in order (rounded weights)
    W <cn>:<weight> ...            cn_weights in dict order
    C <0|1>                        1 when every cn_nninfo[cn] is all_nninfo[:cn]
    X <site> <message>             the site raised instead (no T/V/N/W/C lines)
    E                              end of the structure
    END <structures> <sites> <seconds>
"""
import csv
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcache  # noqa: E402

DATASETS = [("mp_20", 40), ("perov_5", 30), ("carbon_24", 20), ("mpts_52", 80)]
MAX_SITES = 6
SEED = 20240917


def full_mode(args):
    return "--full" in args or os.environ.get("CB_FULL", "0") not in ("", "0")


def script_key(data_dir, full):
    return refcache.script_key(__file__, data_dir, [ds for ds, _ in DATASETS], b"full" if full else b"sample")


complete = refcache.complete


def sites_of(n, full):
    if full or n <= MAX_SITES:
        return list(range(n))
    return [i * n // MAX_SITES for i in range(MAX_SITES)]


def synthetic():
    """(name, Structure) pairs, deterministic."""
    import numpy as np
    from pymatgen.core import Lattice, Structure

    cubic = Lattice.cubic
    ideal = [
        ("sc_Po", Structure(cubic(3.35), ["Po"], [[0, 0, 0]])),
        ("fcc_Cu", Structure(cubic(3.61), ["Cu"] * 4, [[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0]])),
        ("bcc_Fe", Structure(cubic(2.87), ["Fe"] * 2, [[0, 0, 0], [.5, .5, .5]])),
        ("hcp_Mg", Structure(Lattice.hexagonal(3.21, 5.21), ["Mg"] * 2, [[1 / 3, 2 / 3, .25], [2 / 3, 1 / 3, .75]])),
        ("diamond", Structure(cubic(3.567), ["C"] * 8,
                              [[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0],
                               [.25, .25, .25], [.25, .75, .75], [.75, .25, .75], [.75, .75, .25]])),
        ("rocksalt", Structure(cubic(5.64), ["Na"] * 4 + ["Cl"] * 4,
                               [[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0],
                                [.5, .5, .5], [.5, 0, 0], [0, .5, 0], [0, 0, .5]])),
        ("CsCl", Structure(cubic(4.12), ["Cs", "Cl"], [[0, 0, 0], [.5, .5, .5]])),
        ("SrTiO3", Structure(cubic(3.905), ["Sr", "Ti", "O", "O", "O"],
                             [[0, 0, 0], [.5, .5, .5], [.5, .5, 0], [.5, 0, .5], [0, .5, .5]])),
        ("wurtzite", Structure(Lattice.hexagonal(3.25, 5.21), ["Zn", "Zn", "O", "O"],
                               [[1 / 3, 2 / 3, 0], [2 / 3, 1 / 3, .5], [1 / 3, 2 / 3, .382], [2 / 3, 1 / 3, .882]])),
        ("graphite", Structure(Lattice.hexagonal(2.46, 6.7), ["C"] * 4,
                               [[0, 0, .25], [0, 0, .75], [1 / 3, 2 / 3, .25], [2 / 3, 1 / 3, .75]])),
        ("fcc_prim_Al", Structure(Lattice([[0, 2.02, 2.02], [2.02, 0, 2.02], [2.02, 2.02, 0]]), ["Al"], [[0, 0, 0]])),
    ]
    sparse = [
        ("graphene_vacuum", Structure(Lattice.hexagonal(2.46, 20.0), ["C"] * 2, [[0, 0, 0], [1 / 3, 2 / 3, 0]])),
        ("buckled_layer", Structure(Lattice.hexagonal(3.87, 25.0), ["Si"] * 2, [[0, 0, 0.0], [1 / 3, 2 / 3, 0.018]])),
        ("chain", Structure(Lattice.orthorhombic(2.5, 15.0, 15.0), ["Au"], [[0, 0, 0]])),
        ("zigzag_chain", Structure(Lattice.orthorhombic(4.2, 16.0, 16.0), ["Se"] * 2, [[0, 0, 0], [.5, .08, 0]])),
        ("isolated_atom", Structure(cubic(12.0), ["Ar"], [[.3, .3, .3]])),
        ("isolated_pair", Structure(cubic(11.0), ["H", "H"], [[0, 0, 0], [0.067, 0, 0]])),
        ("oblique_sparse", Structure(Lattice.from_parameters(9, 10, 11, 70, 100, 115), ["O", "Mg"],
                                     [[0.1, 0.2, 0.3], [0.6, 0.65, 0.7]])),
    ]
    special = [
        ("noble_mix", Structure(cubic(4.5), ["He", "Ne", "Ar", "Kr"],
                                [[0, 0, 0], [.5, .5, 0], [.5, 0, .5], [0, .5, .5]])),
        ("no_radius_Fm", Structure(cubic(3.5), ["Fm", "O"], [[0, 0, 0], [.5, .5, .5]])),
        ("no_x_Rf", Structure(cubic(3.6), ["Rf", "C"], [[0, 0, 0], [.5, .5, .5]])),
        ("too_close", Structure(cubic(6.0), ["Na", "Cl"], [[0, 0, 0], [0.04, 0, 0]])),
        ("unwrapped", Structure(cubic(4.0), ["Cs", "Cl"], [[-1.25, 2.0, 0.5], [1.75, -0.5, 3.0]])),
    ]
    rs = np.random.RandomState(SEED)
    out = ideal + sparse + special
    for name, s in ideal:
        for sigma in (1e-9, 1e-6, 1e-3):
            t = s.copy()
            cart = t.cart_coords + rs.normal(0, sigma, (len(t), 3))
            out.append(("%s_noise%g" % (name, sigma),
                        Structure(t.lattice, t.species, cart, coords_are_cartesian=True)))
    elements = ["H", "Li", "B", "C", "N", "O", "F", "Na", "Mg", "Al", "Si", "S", "Cl", "K", "Ca", "Ti",
                "Fe", "Cu", "Zn", "Se", "Sr", "Ag", "Sn", "I", "Ba", "La", "W", "Pt", "Pb", "Bi", "U"]
    for i in range(100):
        n = rs.randint(1, 9)
        while True:
            lat = Lattice.from_parameters(*rs.uniform(3, 9, 3), *rs.uniform(60, 120, 3))
            if np.isfinite(lat.matrix).all() and lat.volume > 0.3 * np.prod(lat.abc):
                break
        scale = (n * rs.uniform(6, 30) / lat.volume) ** (1 / 3)
        lat = Lattice(lat.matrix * scale)
        frac = rs.uniform(-0.3, 1.3, (n, 3))
        species = [elements[k] for k in rs.randint(0, len(elements), n)]
        out.append(("random%d" % i, Structure(lat, species, frac)))
    return out


def install_probes():
    """Wrap VoronoiNN.get_nn_info and Structure.get_sites_in_sphere to record what
    CrystalNN.get_nn_data computes internally; returns the record dict."""
    from pymatgen.analysis.local_env import VoronoiNN
    from pymatgen.core import Structure

    probe = {"voro": None, "r": None}
    get_nn_info = VoronoiNN.get_nn_info
    in_sphere = Structure.get_sites_in_sphere

    def nn_info(self, structure, n):
        res = get_nn_info(self, structure, n)
        probe["voro"] = [(e["poly_info"]["solid_angle"], e["poly_info"]["area"], e["site"].coords) for e in res]
        return res

    def sites_in_sphere(self, pt, r, *a, **kw):
        probe["r"] = r
        return in_sphere(self, pt, r, *a, **kw)

    VoronoiNN.get_nn_info = nn_info
    Structure.get_sites_in_sphere = sites_in_sphere
    return probe


def vec(x):
    return " ".join(repr(float(v)) for v in x)


def site_lines(cnn, probe, s, i):
    probe["voro"] = probe["r"] = None
    try:
        d = cnn.get_nn_data(s, i)
    except Exception as e:  # a fingerprint failure: report, never stop
        return ["X %d %s" % (i, " ".join(("%s: %s" % (type(e).__name__, e)).split()))]
    voro = probe["voro"] or []
    out = ["T %d %r %d" % (i, float(probe["r"]), len(voro))]
    out += ["V %r %r %s" % (float(a), float(ar), vec(x)) for a, ar, x in voro]
    out += ["N %r %s" % (float(e["weight"]), vec(e["site"].coords)) for e in d.all_nninfo]
    out.append("W " + " ".join("%d:%r" % (cn, float(w)) for cn, w in d.cn_weights.items()))
    prefix = all([id(x) for x in d.cn_nninfo[cn]] == [id(x) for x in d.all_nninfo[:cn]] for cn in d.cn_nninfo)
    out.append("C %d" % prefix)
    return out


def write_structure(out, lines, tag, s, cnn, probe, full):
    """One structure's block: S <tag> <sites>, its lattice and atoms, the reference
    lines of the sampled sites, E.  Returns the number of sites written."""
    lines = lines + ["S %s %d" % (tag, len(s)), "L " + " ".join(vec(r) for r in s.lattice.matrix)]
    lines += ["A %d %s" % (site.specie.Z, vec(site.frac_coords)) for site in s]
    n = 0
    for i in sites_of(len(s), full):
        lines += site_lines(cnn, probe, s, i)
        n += 1
    lines.append("E")
    out.write("\n".join(lines) + "\n")
    return n


def generate(path, data_dir, full):
    warnings.filterwarnings("ignore")
    from pymatgen.analysis.local_env import CrystalNN
    from pymatgen.core import Structure

    probe = install_probes()
    cnn = CrystalNN()
    csv.field_size_limit(1 << 30)
    t0 = time.time()
    n_struct = n_sites = 0
    tmp = path + ".tmp"
    with open(tmp, "w") as out:
        out.write("# crystalnn_reference.py (%s)\n" % ("full" if full else "sample"))
        for ds, stride in DATASETS:
            if full:
                stride = max(1, stride // 4)
            with open(os.path.join(data_dir, ds, "test.csv"), newline="") as f:
                for row, rec in enumerate(csv.DictReader(f), 1):
                    if (row - 1) % stride:
                        continue
                    s = Structure.from_str(rec["cif"], fmt="cif")
                    n_sites += write_structure(out, [], "%s %d" % (ds, row), s, cnn, probe, full)
                    n_struct += 1
        for row, (name, s) in enumerate(synthetic(), 1):
            n_sites += write_structure(out, ["# %s" % name], "synthetic %d" % row, s, cnn, probe, full)
            n_struct += 1
        out.write("END %d %d %.1f\n" % (n_struct, n_sites, time.time() - t0))
    os.replace(tmp, path)


def main(argv):
    args = argv[1:]
    full = full_mode(args)
    args = [a for a in args if a != "--full"]
    return refcache.cached_main(args, __doc__, "crystalnn_reference", [ds for ds, _ in DATASETS],
                                lambda data_dir, opts: script_key(data_dir, full),
                                lambda path, data_dir, opts: generate(path, data_dir, full))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
