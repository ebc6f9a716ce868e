/* Lattice reduction and periodic geometry: the pymatgen 2022.11.7 building blocks of
 * StructureMatcher and of the structural-validity distance test (metrics.md §5.3–§5.6,
 * §5.12), plus spglib wrappers.
 *
 * Fidelity: every function replays pymatgen's arithmetic operation by operation,
 * including the summation orders and fused multiply-adds of numpy + OpenBLAS and of
 * pymatgen's Cython kernels (core/npmath.h), so results are bit-identical to pymatgen
 * (tests/test_reduce.c, tests/test_pbc.c: all 9,046 MP-20 test lattices and 900 random
 * ones, skewed and high-symmetry included, identical in every bit, mapping order
 * included).  One known source of last-bit differences remains: on AVX-512 CPUs numpy
 * evaluates cos, sin and arccos of ARRAYS with SIMD (SVML) routines that differ from
 * libm by one ulp in about half the cases.  That touches only Lattice.angles and
 * Lattice.from_parameters on the pymatgen side, and here it could change a result only
 * for a length or angle sitting exactly on a tolerance boundary.
 *
 * Conventions are those of crystal.h: lattice rows are the vectors, cart = frac · M.
 * Everything is reentrant except the spglib wrappers (spglib keeps its last error in a
 * global).  Costs on one core: LLL ~1 us, Niggli ~5 us, find_all_mappings(0.3, 10) on a
 * reduced cell ~20 us, a 20-site distance matrix ~16 us. */
#ifndef CRYSTALBENCH_REDUCE_H
#define CRYSTALBENCH_REDUCE_H

#include "crystalbench/crystal.h"

/* ---- numpy-exact lattice helpers (for StructureMatcher and other ports) ---- */

/* Lattice.inv_matrix = numpy.linalg.inv(m), bit for bit (crystal.h's cb_mat3_inverse
 * uses cofactors and differs in the last bits).  Non-zero for a non-finite matrix or an
 * exactly zero pivot, where numpy raises LinAlgError. */
int cb_lattice_inv(const double m[3][3], double inv[3][3]);
/* Lattice.reciprocal_lattice (with 2π): inv(m)ᵀ · 2 · π. */
int cb_lattice_reciprocal(const double m[3][3], double rec[3][3]);
/* Lattice.get_cartesian_coords(f) for an (n, 3) array: numpy.dot(f, m) (a single row
 * sums plainly, n >= 2 rows with fused multiply-adds, as numpy + OpenBLAS do).  Also
 * get_fractional_coords(cart) when given inv = cb_lattice_inv(m).  out may not alias f. */
void cb_lattice_dot_rows(const double m[3][3], const double (*f)[3], int n, double (*out)[3]);
/* The same for ONE site given as a 1-D vector (PeriodicSite.coords / frac_coords). */
void cb_lattice_dot_vec(const double m[3][3], const double f[3], double out[3]);

/* ---- LLL reduction (§5.3): Lattice._calculate_lll(delta = 0.75) ---- */

typedef struct cb_lll {
    double matrix[3][3];  /* Lattice.lll_matrix: the reduced vectors as rows */
    double mapping[3][3]; /* Lattice.lll_mapping: integer-valued, matrix = mapping · M */
    double inverse[3][3]; /* Lattice.lll_inverse = numpy.linalg.inv(mapping), bit for bit
                           * (not always exactly integer: LAPACK's LU rounds) */
} cb_lll;

/* Fails (CB_ERR_INVALID) on a non-finite or degenerate lattice, where pymatgen would
 * raise or loop. */
int cb_lll_reduce(const double m[3][3], cb_lll *out, cb_error *err);
/* Lattice.get_lll_frac_coords: out[i] = f[i] · inverse (numpy's dot for an (n, 3)
 * array).  out may not alias f. */
void cb_lll_frac_coords(const cb_lll *lll, const double (*f)[3], int n, double (*out)[3]);

/* ---- Niggli reduction (§5.4): Lattice.get_niggli_reduced_lattice(tol) ---- */

#define CB_NIGGLI_TOL 1e-5

/* Grosse-Kunstleve on the LLL basis (with pymatgen's stale-scalars quirk after A1),
 * then the first lattice mapping of m onto the reduced parameters (ltol = tol·V^(1/3),
 * atol = 1°), negated if its determinant is negative.  The result is made of actual
 * lattice vectors of m.  CB_ERR_INVALID when no mapping exists ("can't find niggli"). */
int cb_niggli_reduce(const double m[3][3], double tol, double out[3][3], cb_error *err);

typedef enum cb_reduction {
    CB_REDUCE_NIGGLI = 0, /* get_niggli_reduced_lattice(tol = 1e-5) */
    CB_REDUCE_LLL = 1     /* get_lll_reduced_lattice() */
} cb_reduction;

/* Structure.get_reduced_structure(algo): when the reduced lattice is not allclose
 * (rtol 1e-5, atol 1e-8) to c's, the sites keep their Cartesian positions and get
 * fractional coordinates in the new lattice wrapped into [0, 1); otherwise *out is an
 * unchanged copy (coordinates not wrapped).  Sites keep their order; id and props are
 * copied.  *out must not own memory. */
int cb_crystal_reduced(const cb_crystal *c, cb_reduction algo, cb_crystal *out, cb_error *err);

/* ---- points in a sphere (§5.5): Lattice.get_points_in_sphere ---- */

typedef struct cb_sphere_point {
    double frac[3];  /* frac[index] + image: the point in m's fractional coordinates */
    double dist;     /* Cartesian distance to the centre */
    int index;       /* which input point */
    double image[3]; /* integer-valued lattice translation */
} cb_sphere_point;

/* All periodic images of the n points frac[] (fractional in m) within Cartesian
 * distance r of center (Cartesian), as pymatgen's find_points_in_spheres (r rounded to
 * single precision, d² < r² + 1e-8, radii below 1 searched at 1 then filtered), in its
 * enumeration order.  *out is malloc'd (NULL when *n_out == 0). */
int cb_points_in_sphere(const double m[3][3], const double (*frac)[3], int n,
                        const double center[3], double r, cb_sphere_point **out, int *n_out,
                        cb_error *err);

/* ---- lattice mappings (§5.6): Lattice.find_all_mappings(other, ltol, atol,
 *      skip_rotation_matrix = True) ---- */

typedef struct cb_lattice_map {
    double lattice[3][3]; /* aligned lattice: rows are lattice vectors of self */
    int scale[3][3];      /* integer S with lattice = S · self (rows: fractional coordinates) */
} cb_lattice_map;

/* Called once per mapping in pymatgen's order; a non-zero return stops the
 * enumeration (that is not an error). */
typedef int (*cb_lattice_map_fn)(const cb_lattice_map *map, void *ctx);

int cb_lattice_mappings_each(const double self[3][3], const double other[3][3], double ltol,
                             double atol, cb_lattice_map_fn fn, void *ctx, cb_error *err);
/* All mappings in a malloc'd array (*out NULL when *n_out == 0). */
int cb_lattice_find_all_mappings(const double self[3][3], const double other[3][3],
                                 double ltol, double atol, cb_lattice_map **out, int *n_out,
                                 cb_error *err);

/* ---- shortest periodic vectors (§5.12): coord_cython.pbc_shortest_vectors ---- */

/* For every pair (i < n1, j < n2): the shortest vector from f1[i] to an image of f2[j]
 * among the 27 images of the LLL cell (first minimum wins), and its squared length,
 * stored at [i * n2 + j].
 *   lll           cb_lll_reduce of the lattice the fractional coordinates refer to;
 *   mask          optional, n1 × n2: a non-zero entry forbids the pair;
 *   lll_frac_tol  optional [3]: a pair whose LLL-fractional separation exceeds the
 *                 tolerance on some axis (|Δ − round_half_away(Δ)| > tol) is forbidden;
 *   vecs          optional output (may be NULL); d2 required.
 * A forbidden pair gets d2 = 1e20 and the vector (1e20, 1e20, 1e20), as pymatgen. */
int cb_pbc_shortest_vectors(const cb_lll *lll, const double (*f1)[3], int n1,
                            const double (*f2)[3], int n2, const unsigned char *mask,
                            const double *lll_frac_tol, double (*vecs)[3], double *d2,
                            cb_error *err);

/* cb_crystal_distance_matrix (crystal.h) is sqrt(d2) of cb_pbc_shortest_vectors(c, c). */

/* ---- spglib 2.0 (the C library Debian's python3-spglib wraps) ---- */

/* pymatgen SpacegroupAnalyzer defaults; Materials Project uses symprec = 0.1. */
#define CB_SPG_SYMPREC 0.01
#define CB_SPG_ANGLE_TOL 5.0

typedef struct cb_spacegroup {
    int number;             /* 1..230 */
    char international[11]; /* e.g. "Fm-3m" (SpacegroupAnalyzer.get_space_group_symbol) */
    char hall_symbol[17];
    int hall_number;
    char pointgroup[6];
} cb_spacegroup;

/* SpacegroupAnalyzer(c, symprec, angle_tol): spglib's dataset of the cell with species
 * numbered by first appearance.  CB_ERR_EXTERNAL with spglib's message on failure. */
int cb_spacegroup_get(const cb_crystal *c, double symprec, double angle_tol, cb_spacegroup *out,
                      cb_error *err);

/* spg_standardize_cell: the standardized conventional (to_primitive = 0) or primitive
 * cell, idealized unless no_idealize.  Sites come back wrapped into [0, 1) with the
 * species of c; id and props are copied.  *out must not own memory. */
int cb_spg_standardize(const cb_crystal *c, int to_primitive, int no_idealize, double symprec,
                       double angle_tol, cb_crystal *out, cb_error *err);

/* SpacegroupAnalyzer(c, symprec).find_primitive(): spglib's primitive cell (idealized,
 * spglib's default angle tolerance), then get_reduced_structure() (Niggli). */
int cb_spg_primitive(const cb_crystal *c, double symprec, cb_crystal *out, cb_error *err);

/* spglib's own Niggli reduction of c's lattice (spg_niggli_reduce, tolerance eps);
 * sites keep their Cartesian positions, fractional coordinates wrapped into [0, 1). */
int cb_spg_niggli(const cb_crystal *c, double eps, cb_crystal *out, cb_error *err);

#endif
