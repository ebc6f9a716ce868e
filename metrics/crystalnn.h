/* Private to the structure fingerprint: steps A and B of metrics.md §4.
 *
 *   A (voronoi.c, §4.2)   pymatgen VoronoiNN(weight = 'solid_angle', cutoff = 7, tol = 0):
 *                         the Voronoi cell of one site among the periodic images within
 *                         a radius R, and the faces that make up its neighbour list;
 *   B (crystalnn.c, §4.3) CrystalNN().get_nn_data with its defaults: neighbour weights,
 *                         the coordination-number distribution cn_weights and the
 *                         neighbours of each CN (cn_nninfo).
 *
 * Fidelity: every formula is pymatgen 2022.11.7's, operation for operation.  The cell
 * itself is computed by half-space clipping instead of a Qhull tessellation: the same
 * polyhedron, with vertices that differ from Qhull's in the last bits, so solid angles
 * agree to ~1e-15 and the rounded CrystalNN weights (§4.3.7), hence cn_weights, are
 * bit-identical except for a weight within ~1e-15 of a rounding boundary.  Neighbours
 * with exactly equal weights are ordered by distance from the site (pymatgen: by
 * Qhull's ridge order); only the 'bcc' order parameter can see the difference (§4.6).
 *
 * All functions are reentrant; results own their memory. */
#ifndef CB_CRYSTALNN_H
#define CB_CRYSTALNN_H

#include "crystalbench/crystal.h"
#include "crystalbench/error.h"
#include "site_env.h"

/* VoronoiNN's starting radius (CrystalNN's search_cutoff), Å. */
#define CB_VORONOI_CUTOFF 7.0

/* One face of a Voronoi cell: the neighbour image whose bisector plane it lies on. */
typedef struct cb_voronoi_face {
    double point[3];    /* Cartesian position x_m of the neighbour image */
    int site;           /* its site index in the crystal */
    int z;              /* its atomic number */
    int n_verts;        /* vertices of the face (>= 3) */
    double solid_angle; /* Ω subtended at the centre (pymatgen solid_angle, fan from vertex 1) */
    double volume;      /* volume of the pyramid from the centre to the face */
    double face_dist;   /* |x_m − c| / 2 */
    double area;        /* 3 · volume / face_dist, as pymatgen derives it */
    double weight;      /* Ω / Ω_max: VoronoiNN's 'solid_angle' weight */
} cb_voronoi_face;

/* The Voronoi cell of a site and its neighbour list. */
typedef struct cb_voronoi_cell {
    double center[3];       /* p = frac · L of the site as stored (not wrapped) */
    double cutoff;          /* the radius R whose candidates gave the cell (7, 14, …) */
    int n_candidates;       /* periodic images within R, the site's own image included */
    double volume;          /* volume of the cell (Σ of the faces' pyramids) */
    double solid_angle_max; /* Ω_max over all faces */
    int n_faces;            /* faces with Ω > 0, i.e. VoronoiNN's neighbours */
    cb_voronoi_face *faces; /* [n_faces], in increasing distance of the neighbour image */
} cb_voronoi_cell;

/* Step A (§4.2) for site `site` of c.  Candidates are pymatgen's get_sites_in_sphere(p,
 * R): every image ((frac mod 1) + t) · L of every site with |x − p|² < R² + 1e-8,
 * sorted by distance (stable); the cell is that of the nearest one (the site's own
 * image, position c ≈ p).  When the cell is unbounded — it still touches the initial
 * bounding cube, which is where Qhull reports a vertex at infinity or fails — R doubles
 * (capped at the longest cell diagonal + 0.011) and the cell is recomputed.  For a
 * valid lattice the cap always bounds the cell (the ±a, ±b, ±c images are inside it).
 * Faces with fewer than 3 vertices or no area are not faces.
 * Errors: CB_ERR_INVALID when the cell is still unbounded at the largest radius or has
 * no face with Ω > 0 (both are fingerprint failures, §4.5), or for a site out of range;
 * CB_ERR_NOMEM; cb_points_in_sphere's errors (CB_ERR_UNSUPPORTED for a search it
 * refuses as absurdly large for the cell).
 * *out must not own memory; on error it owns nothing. */
int cb_voronoi_neighbors(const cb_crystal *c, int site, cb_voronoi_cell *out, cb_error *err);
void cb_voronoi_cell_free(cb_voronoi_cell *cell);

/* CrystalNN's result for one site.  cn_nninfo[CN] = the first CN entries of the
 * neighbour list (it is sorted by decreasing weight, and CN counts the entries whose
 * rounded weight reaches a bin), so the list is stored once. */
typedef struct cb_crystalnn_result {
    double center[3];    /* p, as in cb_voronoi_cell */
    int n_nn;            /* neighbours with a rounded weight > 0 (NNData.all_nninfo) */
    double (*points)[3]; /* [n_nn] their Cartesian positions, in cn_nninfo order */
    int *site;           /* [n_nn] their site indices */
    double *weight;      /* [n_nn] their weights rounded to 3 decimals (non-increasing) */
    int n_cn;            /* entries of cn_weights (>= 1) */
    int *cn;             /* [n_cn] coordination numbers in pymatgen's dict order:
                          * increasing, then 0 when present (it may exceed 24) */
    double *cn_weight;   /* [n_cn] cn_weights[cn[i]]; they sum to 1 up to rounding */
} cb_crystalnn_result;

/* Step B (§4.3) on a cell from cb_voronoi_neighbors for the same crystal and site.
 * Errors: CB_ERR_INVALID when a radius is needed for an element without one (Z >= 97,
 * pymatgen's TypeError: a fingerprint failure), CB_ERR_NOMEM.  *out must not own
 * memory; on error it owns nothing. */
int cb_crystalnn_from_cell(const cb_crystal *c, int site, const cb_voronoi_cell *cell,
                           cb_crystalnn_result *out, cb_error *err);
/* Steps A and B: CrystalNN().get_nn_data(structure, site). */
int cb_crystalnn_site(const cb_crystal *c, int site, cb_crystalnn_result *out, cb_error *err);
void cb_crystalnn_result_free(cb_crystalnn_result *r);

/* cn_weights[cn] of a result, 0 when absent. */
double cb_crystalnn_cn_weight(const cb_crystalnn_result *r, int cn);

/* The environments the order parameters consume (site_env.h): center = p, and for
 * CN = 1..CB_CN_MAX the weight and the first CN neighbour positions (n = 0 and points
 * NULL when the CN has no weight).  The points are BORROWED from r: env is valid while
 * r is alive and unchanged. */
void cb_crystalnn_site_env(const cb_crystalnn_result *r, cb_site_env *env);

#endif
