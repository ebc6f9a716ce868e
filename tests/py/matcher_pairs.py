#!/usr/bin/env python3
"""Structure pairs with pymatgen's StructureMatcher verdicts, for tests/test_matcher_diff.c
and bench/matcher.c.

    matcher_pairs.py [--cache-dir DIR] [--data DIR] [--workers N]
        Prints the path of the pairs file, making it first unless a complete one is
        cached: DIR/matcher_pairs.<key>.txt, where key hashes this script's content and
        the sizes of the input CSVs (DIR defaults to $CB_BUILD_DIR; --data to
        $CB_SHARED_DIR/data, else ../shared/data).  The cache is checked before pymatgen
        is imported, so a re-run costs ~0.1 s.  First run: ~2.5 min with 2 workers on
        2 cores (pymatgen's work; the file's last line holds the measured time).
    matcher_pairs.py --extract PAIRS_FILE ID [ID ...]
        Prints the blocks of the given pair ids (for tests/data/matcher_regressions.txt).

Pairs are built deterministically (numpy RandomState) from the test splits of mp_20,
perov_5, carbon_24 and mpts_52, in families of PER_FAMILY pairs: perturbed, strained,
translated, permuted, rebased, supercell, diffcomp, samecomp, combo (see make_pairs) and
boundary (pairs aimed at a tolerance: boundary_pair).

File format (text, '#' lines are comments; floats are Python reprs, i.e. exact):

    pair <id> <family> <provenance>
    s1 <n>                       the first argument of get_rms_dist / fit (the prediction)
    <a_x> <a_y> <a_z>            lattice rows (Å)
    <b_x> <b_y> <b_z>
    <c_x> <c_y> <c_z>
    <Z> <fa> <fb> <fc>           n sites: atomic number, fractional coordinates
    s2 <n>                       the second argument (the target), same layout
    ...
    rms <rms|None> <max_dist|None>   StructureMatcher(stol=0.5, angle_tol=10, ltol=0.3).get_rms_dist(s1, s2)
    fit <True|False>                 the same matcher's fit(s1, s2)
    time <seconds rms> <seconds fit>
    end

A pymatgen exception gives "rms ERROR <message>" and "fit ERROR".  The file ends with
"END <pairs> <seconds>" so a truncated file is detectable.
"""
import csv
import multiprocessing
import os
import re
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcache  # noqa: E402

SEED = 20240611
PER_FAMILY = 400
MAX_SITES = 48          # supercells stay below this (pymatgen's cost grows fast with N)
DATASETS = ["mp_20", "perov_5", "carbon_24", "mpts_52"]
POOL_PER_DATASET = 500  # structures parsed per dataset for the single-structure families
MATCHER = dict(stol=0.5, angle_tol=10, ltol=0.3)


def script_key(data_dir):
    return refcache.script_key(__file__, data_dir, DATASETS)


complete = refcache.complete


# ---- structures as plain arrays: (lattice 3x3, Z list, frac n x 3) ----

def fmt_struct(tag, lat, zs, frac):
    out = ["%s %d" % (tag, len(zs))]
    for row in lat:
        out.append(" ".join(repr(float(x)) for x in row))
    for z, f in zip(zs, frac):
        out.append("%d %s" % (z, " ".join(repr(float(x)) for x in f)))
    return out


def parse_struct(lines, i):
    n = int(lines[i].split()[1])
    lat = [[float(x) for x in lines[i + 1 + k].split()] for k in range(3)]
    zs, frac = [], []
    for k in range(n):
        t = lines[i + 4 + k].split()
        zs.append(int(t[0]))
        frac.append([float(x) for x in t[1:4]])
    return (lat, zs, frac), i + 4 + n


# ---- the families ----

def unimodular(rs):
    """A random integer matrix with det ±1 and entries in [-2, 2], not the identity:
    a product of 2-4 elementary row operations (add ±row, swap, negate)."""
    import numpy as np
    while True:
        u = np.eye(3, dtype=int)
        for _ in range(rs.randint(2, 5)):
            i, j = rs.choice(3, 2, replace=False)
            op = rs.randint(3)
            if op == 0:
                u[i] += rs.choice([-1, 1]) * u[j]
            elif op == 1:
                u[[i, j]] = u[[j, i]]
            else:
                u[i] = -u[i]
        if np.abs(u).max() <= 2 and not (u == np.eye(3, dtype=int)).all():
            return u


def rebase(rs, lat, frac):
    """The same crystal in another basis: L' = U·L, f' = f·U⁻¹ (cart = f·L unchanged)."""
    import numpy as np
    u = unimodular(rs)
    uinv = np.rint(np.linalg.inv(u)).astype(int)  # exact: det U = ±1
    f = frac @ uinv
    if rs.rand() < 0.5:
        f = f % 1.0
    return u @ lat, f, "U=" + ",".join(str(x) for x in u.ravel())


def perturb(rs, lat, frac, sigma):
    """Gaussian Cartesian noise of standard deviation sigma (Å) on every site."""
    import numpy as np
    cart = frac @ lat + rs.normal(0.0, sigma, size=frac.shape)
    return cart @ np.linalg.inv(lat)


def strain(rs, lat):
    """Lattice parameters changed by up to ±20% (lengths) and ±15° (angles); None when
    the angles no longer make a cell."""
    from pymatgen.core import Lattice
    import numpy as np
    p = np.array(Lattice(lat).parameters)
    p[:3] *= 1.0 + rs.uniform(-0.2, 0.2, 3)
    p[3:] += rs.uniform(-15.0, 15.0, 3)
    new = Lattice.from_parameters(*p)
    if not np.isfinite(new.matrix).all() or new.volume < 0.3 * abs(np.linalg.det(lat)):
        return None, ""
    return new.matrix, "abc*%s,ang+%s" % tuple(
        "/".join("%.3f" % x for x in v) for v in (p[:3] / Lattice(lat).abc, p[3:] - Lattice(lat).angles))


def supercell(lat, zs, frac, dims):
    import numpy as np
    n1, n2, n3 = dims
    shifts = np.array([(i, j, k) for i in range(n1) for j in range(n2) for k in range(n3)], float)
    f = ((frac[:, None, :] + shifts[None, :, :]) / np.array(dims, float)).reshape(-1, 3)
    z = [zz for zz in zs for _ in range(len(shifts))]
    return np.diag(np.array(dims, float)) @ lat, z, f


def load_pool(data_dir, rs):
    """POOL_PER_DATASET random rows of each dataset, parsed by pymatgen, and every row
    of each split (for samecomp)."""
    from pymatgen.core import Structure
    import numpy as np
    csv.field_size_limit(1 << 30)
    pool, rows_by_ds = [], {}
    for ds in DATASETS:
        path = os.path.join(data_dir, ds, "test.csv")
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        rows_by_ds[ds] = rows
        for i in sorted(rs.choice(len(rows), min(POOL_PER_DATASET, len(rows)), replace=False)):
            s = Structure.from_str(rows[i]["cif"], fmt="cif")
            pool.append(dict(ds=ds, row=int(i), id=rows[i]["material_id"], lat=s.lattice.matrix.copy(),
                             z=[site.specie.Z for site in s], frac=np.array(s.frac_coords),
                             formula=s.composition.reduced_formula))
    return pool, rows_by_ds


def cif_formula(cif):
    """Reduced formula from the CIF's _chemical_formula_sum (no full parse needed)."""
    from pymatgen.core import Composition
    m = re.search(r"^_chemical_formula_sum\s+'?([^'\n]+)'?", cif, re.M)
    return Composition(m.group(1)).reduced_formula if m else None


def samecomp_pairs(rs, rows_by_ds, count):
    """Pairs of different materials with the same reduced formula, drawn from whole
    splits: mp_20 (40%), carbon_24 (30%, all carbon) and mpts_52 (30%); perov_5 has no
    repeated formula.  Returns (struct a, struct b, provenance)."""
    from pymatgen.core import Structure
    import numpy as np

    def parsed(ds, i):
        s = Structure.from_str(rows_by_ds[ds][i]["cif"], fmt="cif")
        return (s.lattice.matrix.copy(), [site.specie.Z for site in s], np.array(s.frac_coords))

    out = []
    for ds, share in (("mp_20", 0.4), ("carbon_24", 0.3), ("mpts_52", 0.3)):
        groups = {}
        for i, r in enumerate(rows_by_ds[ds]):
            groups.setdefault(cif_formula(r["cif"]), []).append(i)
        multi = sorted(k for k, v in groups.items() if k and len(v) >= 2)
        want = count - len(out) if ds == "mpts_52" else int(round(share * count))
        while want > 0:
            i, j = rs.choice(groups[multi[rs.randint(len(multi))]], 2, replace=False)
            ids = rows_by_ds[ds][i]["material_id"], rows_by_ds[ds][j]["material_id"]
            if ids[0] == ids[1]:
                continue
            out.append((parsed(ds, i), parsed(ds, j), "%s:%s/%s" % (ds, ids[0], ids[1])))
            want -= 1
    return out


def make_pairs(data_dir):
    """All pairs as (family, provenance, s1, s2) with s = (lattice, Z list, frac)."""
    import numpy as np
    rs = np.random.RandomState(SEED)
    pool, rows_by_ds = load_pool(data_dir, rs)
    pairs = []

    def pick():
        p = pool[rs.randint(len(pool))]
        return p, p["lat"], list(p["z"]), p["frac"].copy()

    def add(fam, prov, a, b):
        pairs.append((fam, prov, a, b))

    for _ in range(PER_FAMILY):
        p, lat, z, f = pick()
        sigma = rs.uniform(0.0, 0.3)
        add("perturbed", "%s:%s,sigma=%.3f" % (p["ds"], p["id"], sigma), (lat, z, perturb(rs, lat, f, sigma)),
            (lat, z, f))
    n = 0
    while n < PER_FAMILY:
        p, lat, z, f = pick()
        new, how = strain(rs, lat)
        if new is not None:
            add("strained", "%s:%s,%s" % (p["ds"], p["id"], how), (new, z, f), (lat, z, f))
            n += 1
    for _ in range(PER_FAMILY):
        p, lat, z, f = pick()
        t = rs.uniform(0, 1, 3)
        g = f + t
        if rs.rand() < 0.5:
            g = g % 1.0
        add("translated", "%s:%s,t=%s" % (p["ds"], p["id"], "/".join("%.3f" % x for x in t)), (lat, z, g),
            (lat, z, f))
    for _ in range(PER_FAMILY):
        p, lat, z, f = pick()
        perm = rs.permutation(len(z))
        add("permuted", "%s:%s" % (p["ds"], p["id"]), (lat, [z[i] for i in perm], f[perm]), (lat, z, f))
    for _ in range(PER_FAMILY):
        p, lat, z, f = pick()
        nl, nf, how = rebase(rs, lat, f)
        add("rebased", "%s:%s,%s" % (p["ds"], p["id"], how), (nl, z, nf), (lat, z, f))
    dims_list = [(2, 1, 1), (1, 2, 1), (1, 1, 2), (2, 2, 1), (2, 1, 2), (1, 2, 2), (2, 2, 2), (3, 1, 1),
                 (1, 3, 1), (1, 1, 3), (3, 2, 1)]
    n = 0
    while n < PER_FAMILY:
        p, lat, z, f = pick()
        dims = dims_list[rs.randint(len(dims_list))]
        if len(z) * dims[0] * dims[1] * dims[2] > MAX_SITES:
            continue
        sl, sz, sf = supercell(lat, z, f, dims)
        sigma = rs.uniform(0.0, 0.1) if rs.rand() < 0.4 else 0.0  # noise near the 0.25 Å primitive tolerance
        if sigma > 0:
            sf = perturb(rs, sl, sf, sigma)
        prov = "%s:%s,%dx%dx%d,sigma=%.3f" % ((p["ds"], p["id"]) + dims + (sigma,))
        if rs.rand() < 0.5:
            add("supercell", prov + ",super-first", (sl, sz, sf), (lat, z, f))
        else:
            add("supercell", prov + ",prim-first", (lat, z, f), (sl, sz, sf))
        n += 1
    n = 0
    while n < PER_FAMILY:
        p, lat, z, f = pick()
        if rs.rand() < 0.5:
            # one site's species changed (to another element of the crystal or a random one)
            k = rs.randint(len(z))
            others = sorted(set(z) - {z[k]})
            new = others[rs.randint(len(others))] if others and rs.rand() < 0.5 else int(rs.randint(1, 84))
            if new == z[k]:
                continue
            z2 = list(z)
            z2[k] = new
            sigma = rs.uniform(0.0, 0.1)
            add("diffcomp", "%s:%s,site%d:%d->%d" % (p["ds"], p["id"], k, z[k], new),
                (lat, z2, perturb(rs, lat, f, sigma)), (lat, z, f))
        else:
            q = pool[rs.randint(len(pool))]
            if q["formula"] == p["formula"]:
                continue
            add("diffcomp", "%s:%s/%s:%s" % (p["ds"], p["id"], q["ds"], q["id"]), (lat, z, f),
                (q["lat"], list(q["z"]), q["frac"]))
        n += 1
    for a, b, prov in samecomp_pairs(rs, rows_by_ds, PER_FAMILY):
        add("samecomp", prov, a, b)
    for _ in range(PER_FAMILY):
        p, lat, z, f = pick()
        sigma = rs.uniform(0.0, 0.3)
        g = perturb(rs, lat, f, sigma) + rs.uniform(0, 1, 3)
        nl, nf, how = rebase(rs, lat, g)
        perm = rs.permutation(len(z))
        add("combo", "%s:%s,sigma=%.3f,%s" % (p["ds"], p["id"], sigma, how),
            (nl, [z[i] for i in perm], nf[perm]), (lat, z, f))
    n = 0
    while n < PER_FAMILY:
        pair = boundary_pair(rs, pick, n % 4)
        if pair:
            add("boundary", *pair)
            n += 1
    return pairs


def boundary_pair(rs, pick, kind):
    """A pair aimed at one of the matcher's tolerances (the likeliest place for a port to
    differ): kind 0 noise of 0.12-0.32 (V/N)^(1/3) per axis (rms near stol = 0.5 and the
    fit's max distance near it); 1 one lattice length scaled by ~1.3^1.5 (after the
    volume scaling, its ratio sits near 1 + ltol); 2 one angle changed by 9-11° (near
    angle_tol); 3 a 2-cell supercell whose second half is shifted by 0.15-0.35 Å (near
    the 0.25 Å primitive-cell tolerance).  Returns (provenance, s1, s2) or None."""
    from pymatgen.core import Lattice
    import numpy as np
    p, lat, z, f = pick()
    tag = "%s:%s" % (p["ds"], p["id"])
    if kind == 0:
        scale = (abs(np.linalg.det(lat)) / len(z)) ** (1.0 / 3.0)
        sigma = scale * rs.uniform(0.12, 0.32)
        return "%s,sigma=%.3f" % (tag, sigma), (lat, z, perturb(rs, lat, f, sigma)), (lat, z, f)
    par = np.array(Lattice(lat).parameters)
    if kind == 1:
        axis, k = rs.randint(3), 1.3 ** 1.5 * rs.uniform(0.97, 1.03)
        if rs.rand() < 0.5:
            k = 1.0 / k
        par[axis] *= k
        how = "len%d*%.4f" % (axis, k)
    elif kind == 2:
        axis, d = 3 + rs.randint(3), rs.choice([-1, 1]) * rs.uniform(9.0, 11.0)
        par[axis] += d
        how = "ang%d%+.3f" % (axis - 3, d)
    if kind in (1, 2):
        new = Lattice.from_parameters(*par).matrix
        if not np.isfinite(new).all() or abs(np.linalg.det(new)) < 0.3 * abs(np.linalg.det(lat)):
            return None
        return "%s,%s" % (tag, how), (new, z, f), (lat, z, f)
    if len(z) * 2 > MAX_SITES:
        return None
    dims = [(2, 1, 1), (1, 2, 1), (1, 1, 2)][rs.randint(3)]
    sl, sz, sf = supercell(lat, z, f, dims)
    shift = rs.normal(size=3)
    shift *= rs.uniform(0.15, 0.35) / np.linalg.norm(shift)
    second = np.arange(len(sz)) % 2 == 1  # supercell() lists each site's two copies together
    sf = sf.copy()
    sf[second] += shift @ np.linalg.inv(sl)
    prov = "%s,%dx%dx%d,shift=%.3f" % ((tag,) + dims + (np.linalg.norm(shift),))
    if rs.rand() < 0.5:
        return prov + ",super-first", (sl, sz, sf), (lat, z, f)
    return prov + ",prim-first", (lat, z, f), (sl, sz, sf)


# ---- pymatgen, in worker processes ----

_matcher = None


def _init_worker():
    global _matcher
    warnings.filterwarnings("ignore")
    from pymatgen.analysis.structure_matcher import StructureMatcher
    _matcher = StructureMatcher(**MATCHER)
    # One throw-away comparison so lazy imports are not charged to the first pair's time.
    from pymatgen.core import Lattice, Structure
    s = Structure(Lattice.cubic(3.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    _matcher.get_rms_dist(s, s)
    _matcher.fit(s, s)


def _structure(s):
    from pymatgen.core import Lattice, Structure
    lat, zs, frac = s
    return Structure(Lattice(lat), zs, frac)


def run_pair(block):
    """block = the pair's text lines (header + s1 + s2); returns the result lines.  The
    structures are rebuilt from the text so pymatgen sees exactly the file's numbers."""
    s1, i = parse_struct(block, 1)
    s2, _ = parse_struct(block, i)
    a, b = _structure(s1), _structure(s2)
    try:
        t0 = time.perf_counter()
        r = _matcher.get_rms_dist(a, b)
        t1 = time.perf_counter()
        fit = _matcher.fit(a, b)
        t2 = time.perf_counter()
    except Exception as e:  # noqa: BLE001 - recorded for the C side to report
        msg = " ".join(("%s: %s" % (type(e).__name__, e)).split())
        return ["rms ERROR %s" % msg, "fit ERROR", "time 0 0"]
    rms = "rms None None" if r is None else "rms %r %r" % (float(r[0]), float(r[1]))
    return [rms, "fit %s" % bool(fit), "time %.6g %.6g" % (t1 - t0, t2 - t1)]


def generate(out_path, data_dir, workers):
    import numpy as np
    warnings.filterwarnings("ignore")  # pymatgen's CIF rounding notes
    t_start = time.time()
    pairs = make_pairs(data_dir)
    blocks = []
    for k, (fam, prov, a, b) in enumerate(pairs):
        lines = ["pair %d %s %s" % (k, fam, prov.replace(" ", "_"))]
        lines += fmt_struct("s1", np.asarray(a[0]), a[1], np.asarray(a[2]))
        lines += fmt_struct("s2", np.asarray(b[0]), b[1], np.asarray(b[2]))
        blocks.append(lines)
    sys.stderr.write("matcher_pairs: %d pairs built in %.1f s; running pymatgen (%d workers)\n"
                     % (len(blocks), time.time() - t_start, workers))
    from importlib.metadata import version
    tmp = out_path + ".tmp.%d" % os.getpid()
    with open(tmp, "w") as out, multiprocessing.Pool(workers, _init_worker) as pool:
        out.write("# matcher pairs made by tests/py/matcher_pairs.py (seed %d), pymatgen %s\n"
                  % (SEED, version("pymatgen")))
        out.write("# StructureMatcher(stol=0.5, angle_tol=10, ltol=0.3): get_rms_dist(s1, s2), fit(s1, s2)\n")
        for k, res in enumerate(pool.imap(run_pair, blocks, chunksize=4)):
            out.write("\n".join(blocks[k] + res) + "\nend\n")
            if (k + 1) % 250 == 0:
                sys.stderr.write("matcher_pairs: %d/%d pairs, %.0f s\n" % (k + 1, len(blocks), time.time() - t_start))
        out.write("END %d %.1f\n" % (len(blocks), time.time() - t_start))
    os.replace(tmp, out_path)
    sys.stderr.write("matcher_pairs: done in %.1f s: %s\n" % (time.time() - t_start, out_path))


def extract(path, ids):
    want = set(ids)
    block = []
    with open(path) as f:
        for line in f:
            if line.startswith("pair "):
                block = [line]
            elif block:
                block.append(line)
                if line.strip() == "end":
                    if block[0].split()[1] in want:
                        sys.stdout.write("".join(block))
                    block = []


def main(argv):
    args = argv[1:]
    if args[:1] == ["--extract"] and len(args) >= 3:
        extract(args[1], args[2:])
        return 0
    return refcache.cached_main(args, __doc__, "matcher_pairs", DATASETS,
                                lambda data_dir, opts: script_key(data_dir),
                                lambda path, data_dir, opts: generate(path, data_dir, int(opts["--workers"])),
                                {"--workers": "2"})


if __name__ == "__main__":
    sys.exit(main(sys.argv))
