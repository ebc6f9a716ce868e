/* cb_crystal: one periodic structure, the unit of data everywhere in crystalbench.
 *
 * Conventions (those of pymatgen, so numbers compare bit for bit):
 *   - lattice[i] is the i-th lattice vector as a ROW, in Å;
 *   - cart = frac · lattice;  frac = cart · inv(lattice);
 *   - fractional coordinates are NOT wrapped unless a function says so;
 *   - parameters are (a, b, c, α, β, γ) in Å and degrees, α = ∠(b, c), β = ∠(a, c), γ = ∠(a, b).
 *
 * Ownership: a cb_crystal owns its arrays (z, frac, id, props).  cb_crystal_free
 * releases them and leaves a zeroed struct; freeing a zeroed struct is a no-op. */
#ifndef CRYSTALBENCH_CRYSTAL_H
#define CRYSTALBENCH_CRYSTAL_H

#include <stddef.h>

#include "crystalbench/error.h"

/* One optional property (a dataset CSV column other than the CIF): kept as the
 * original text so nothing is lost; cb_crystal_prop_double parses on demand. */
typedef struct cb_prop {
    char *name;
    char *value;
} cb_prop;

typedef struct cb_crystal {
    double lattice[3][3];  /* rows = lattice vectors, Å */
    int n;                 /* number of sites */
    int *z;                /* [n] atomic numbers, 1..118 */
    double (*frac)[3];     /* [n][3] fractional coordinates */
    char *id;              /* optional identifier (material_id, CIF data block, file name); may be NULL */
    int n_props;
    cb_prop *props;        /* optional, may be NULL */
} cb_crystal;

/* The prop a generator sets on every crystal it writes, empty or saying why it could not
 * produce one (the crystal is then a placeholder no metric accepts): "unparseable: …"
 * for a text model's output that does not parse.  Scoring counts them (harness/score.c). */
#define CB_GENERATION_FAILURE "generation_failure"

/* Makes c (allocated, its n ≥ 1 sites and their elements kept) the placeholder of a
 * crystal a generator could not produce: a 0.4 Å cube (volume 0.064 Å³, under every
 * protocol's 0.1 Å³) with site i at (i/n, 0, 0), so no two sites are under 0.4/n Å apart
 * (readable by every reader here) nor 0.5 Å apart (structurally invalid either way). */
void cb_crystal_placeholder(cb_crystal *c);

/* Allocates z and frac for n sites (zero-filled).  Any previous content is NOT freed. */
int cb_crystal_alloc(cb_crystal *c, int n, cb_error *err);
void cb_crystal_free(cb_crystal *c);
/* Deep copy; dst must not own memory (it is overwritten). */
int cb_crystal_copy(cb_crystal *dst, const cb_crystal *src, cb_error *err);
int cb_crystal_set_id(cb_crystal *c, const char *id, cb_error *err);
int cb_crystal_add_prop(cb_crystal *c, const char *name, const char *value, cb_error *err);
const char *cb_crystal_prop(const cb_crystal *c, const char *name); /* NULL when absent */

/* Checks what every consumer assumes: n >= 1, every Z in 1..118, finite lattice and
 * coordinates, volume >= 1e-6 Å^3 (a zero or degenerate cell).  `what` names the
 * source for the message (file, row). */
int cb_crystal_check(const cb_crystal *c, const char *what, cb_error *err);

/* ---- lattice geometry (3x3 matrices, rows = vectors) ---- */

/* pymatgen Lattice.from_parameters(vesta=False), bit for bit (models.md §1.2). */
void cb_lattice_from_parameters(const double params[6], double m[3][3]);
/* lengths and angles (degrees) exactly as pymatgen Lattice.parameters. */
void cb_lattice_parameters(const double m[3][3], double params[6]);
/* |(a × b) · c| */
double cb_lattice_volume(const double m[3][3]);
/* signed determinant */
double cb_mat3_det(const double m[3][3]);
/* Inverse by cofactors; returns 0 when |det| is 0 or not finite. */
int cb_mat3_inverse(const double m[3][3], double inv[3][3]);
void cb_mat3_mul(const double a[3][3], const double b[3][3], double out[3][3]);

void cb_frac_to_cart(const double m[3][3], const double f[3], double cart[3]);
/* inv must be cb_mat3_inverse(m). */
void cb_cart_to_frac(const double inv[3][3], const double cart[3], double f[3]);
/* x - floor(x) per component: numpy's `x % 1` (may return exactly 1.0 for tiny negatives). */
void cb_wrap_frac(double f[3]);
/* x mod 1 in [0, 1): x − floor(x), and 0 where that rounds up to exactly 1 (x a tiny
 * negative), so the result is always a point of the torus.  NaN stays NaN. */
double cb_wrap01(double x);

/* ---- per-structure quantities ---- */

/* Two sites closer than tol Å in some periodic image: 1 with the pair in *i, *j and
 * their distance in *r (the first pair found: in site order for up to 64 sites), 0 when
 * none is (or the cell is singular: cb_crystal_check's to report), −1 out of memory. */
int cb_crystal_close_pair(const cb_crystal *c, double tol, int *i, int *j, double *r);

double cb_crystal_volume(const cb_crystal *c);
/* g/cm^3 with pymatgen's atomic masses and its amu→g constant (Structure.density). */
double cb_crystal_density(const cb_crystal *c);
/* Number of distinct elements. */
int cb_crystal_n_elements(const cb_crystal *c);

/* Composition: distinct elements sorted by increasing Z with their counts in the cell. */
typedef struct cb_composition {
    int n_elems;
    int z[118];
    double amount[118];
} cb_composition;

void cb_crystal_composition(const cb_crystal *c, cb_composition *comp);
/* pymatgen Composition.reduced_formula (electronegativity ordering, special formulas
 * such as O2, H2O2; integer-reduced counts).  Returns the string length, or -1 if cap
 * is too small. */
int cb_composition_reduced_formula(const cb_composition *comp, char *out, size_t cap);

/* Greatest common divisor of |a| and |b| (gcd(0, 0) = 0). */
long long cb_gcd(long long a, long long b);

/* Minimum-image distance matrix as pymatgen Structure.distance_matrix (metrics.md §5.12:
 * LLL-reduced basis, 27 images).  d must hold n*n doubles; d[i*n+i] = 0.  Returns
 * non-zero only on allocation failure or a singular lattice. */
int cb_crystal_distance_matrix(const cb_crystal *c, double *d, cb_error *err);

#endif
