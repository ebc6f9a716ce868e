/* The DNG evaluation (metrics.md §1.3, §1.5): records for every crystal, then the
 * metrics over the sets the reference uses:
 *   validity          all generated crystals
 *   wdist density,    the property subset (n random valid generated crystals, or all)
 *   #elements, div.   against ALL reference crystals
 *   coverage          generated crystals with fingerprints (precision's denominator:
 *                     all generated, CTL: those with fingerprints) against the
 *                     reference crystals with fingerprints
 *   wdist n-ary       (FlowMM) all generated crystals as built, against all references */
#include "crystalbench/dng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crystalbench/parallel.h"

const char *cb_dng_protocol_name(cb_dng_protocol p)
{
    switch (p) {
    case CB_DNG_CDVAE: return "cdvae";
    case CB_DNG_FLOWMM: return "flowmm";
    case CB_DNG_CTL: return "ctl";
    }
    return "?";
}

int cb_dng_protocol_from_name(const char *name, cb_dng_protocol *out)
{
    static const cb_dng_protocol all[] = {CB_DNG_CDVAE, CB_DNG_FLOWMM, CB_DNG_CTL};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcasecmp(name, cb_dng_protocol_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    return -1;
}

int cb_dng_cutoffs(const char *dataset, double *struct_cutoff, double *comp_cutoff)
{
    /* CDVAE's COV_Cutoffs (mp20_llama uses mp20's) */
    if (strcasecmp(dataset, "mp20") == 0 || strcasecmp(dataset, "mp_20") == 0) {
        *struct_cutoff = 0.4;
        *comp_cutoff = 10.0;
    } else if (strcasecmp(dataset, "carbon") == 0 || strcasecmp(dataset, "carbon_24") == 0) {
        *struct_cutoff = 0.2;
        *comp_cutoff = 4.0;
    } else if (strcasecmp(dataset, "perov") == 0 || strcasecmp(dataset, "perovskite") == 0 ||
               strcasecmp(dataset, "perov_5") == 0) {
        *struct_cutoff = 0.2;
        *comp_cutoff = 4.0;
    } else {
        return -1;
    }
    return 0;
}

void cb_dng_opts_default(cb_dng_opts *o)
{
    memset(o, 0, sizeof *o);
    o->protocol = CB_DNG_CDVAE;
    cb_dng_cutoffs("mp20", &o->struct_cutoff, &o->comp_cutoff);
    o->n_subsample = 1000;
    o->threads = 1;
}

/* ---- records ---- */

typedef struct records_job {
    const cb_dng_opts *o;
    const cb_crystal *xs;
    int is_prediction;
    cb_dng_record *out;
} records_job;

static int distinct_elements(const cb_crystal *c)
{
    unsigned char seen[CB_MAX_Z + 2] = {0};
    int k = 0;
    for (int i = 0; i < c->n; i++) {
        int z = c->z[i] >= 0 && c->z[i] <= CB_MAX_Z ? c->z[i] : CB_MAX_Z + 1;
        k += !seen[z];
        seen[z] = 1;
    }
    return k;
}

/* The fingerprints of a built structure; a failure makes the crystal invalid. */
static int fingerprint(const cb_crystal *s, cb_dng_record *r, cb_error *err)
{
    cb_error fe;
    int rc = cb_struct_fingerprint(s, r->struct_fp, &fe);
    if (rc == CB_ERR_NOMEM) {
        if (err) *err = fe;
        return rc;
    }
    double raw[CB_COMP_FP_LEN];
    if (!rc) rc = cb_comp_fingerprint(s->n, s->z, raw, &fe);
    if (rc) {
        r->fp_failed = 1;
        r->v.valid = 0;
        return CB_OK;
    }
    cb_comp_scale(raw, r->comp_fp);
    r->has_fp = 1;
    return CB_OK;
}

static int build_record(void *ctx, size_t i, cb_error *err)
{
    records_job *J = ctx;
    const cb_crystal *x = &J->xs[i];
    cb_dng_record *r = &J->out[i];
    memset(r, 0, sizeof *r);
    r->density = NAN;
    /* The reference builds its record from lengths, angles, fractional coordinates
     * and atom types (a FlowMM prediction is filtered on its angles first). */
    double p[6];
    cb_lattice_parameters(x->lattice, p);
    cb_protocol vp = J->o->protocol == CB_DNG_FLOWMM ? CB_PROTOCOL_FLOWMM : CB_PROTOCOL_CDVAE;
    cb_crystal built = {0};
    int rc = cb_validity_from_params(vp, J->is_prediction, p, p + 3, x->n, x->z, (const double(*)[3])x->frac, &r->v,
                                     &built, err);
    if (rc) return rc;
    r->has_structure = built.n > 0;
    r->n_elems = r->has_structure ? distinct_elements(&built) : distinct_elements(x);
    if (r->has_structure) r->density = cb_crystal_density(&built);
    int want_fp;
    switch (J->o->protocol) {
    case CB_DNG_FLOWMM: want_fp = r->v.constructed && !r->v.absurd; break;
    case CB_DNG_CTL: want_fp = r->v.valid; break;
    default: want_fp = 1; break; /* every record; none without a structure object */
    }
    if (want_fp && r->has_structure)
        rc = fingerprint(&built, r, err);
    else if (want_fp) {
        r->fp_failed = 1; /* CDVAE: "no structure object" raises inside the fingerprint */
        r->v.valid = 0;
    }
    if (J->o->protocol == CB_DNG_FLOWMM && r->v.absurd) { /* InvalidCrystal */
        r->v.comp_valid = r->v.struct_valid = r->v.valid = 0;
    }
    cb_crystal_free(&built);
    return rc;
}

int cb_dng_records(const cb_dng_opts *o, const cb_crystal *xs, size_t n, int is_prediction, cb_dng_record *out,
                   cb_error *err)
{
    records_job J = {o, xs, is_prediction, out};
    return cb_parallel_for(n, o->threads, build_record, &J, o->progress, err);
}

/* ---- metrics ---- */

/* The fingerprint rows of the records that have them, contiguous. */
static int gather_fps(const cb_dng_record *r, size_t n, cb_fp_set *set, double **s, double **c)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += r[i].has_fp;
    *s = malloc((k ? k : 1) * CB_STRUCT_FP_LEN * sizeof **s);
    *c = malloc((k ? k : 1) * CB_COMP_FP_LEN * sizeof **c);
    if (!*s || !*c) return -1;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (!r[i].has_fp) continue;
        memcpy(*s + j * CB_STRUCT_FP_LEN, r[i].struct_fp, sizeof r[i].struct_fp);
        memcpy(*c + j * CB_COMP_FP_LEN, r[i].comp_fp, sizeof r[i].comp_fp);
        j++;
    }
    *set = (cb_fp_set){k, *s, *c};
    return 0;
}

/* The property subset: indices (into gen) of the valid crystals drawn. */
static int draw_subset(const cb_dng_opts *o, const cb_dng_record *gen, size_t n_gen, size_t **subset, size_t *k,
                       cb_error *err)
{
    size_t n_valid = 0;
    for (size_t i = 0; i < n_gen; i++) n_valid += gen[i].v.valid;
    size_t want = o->protocol == CB_DNG_CTL || o->n_subsample == 0 ? n_valid : o->n_subsample;
    if (n_valid == 0) return cb_fail(err, CB_ERR_INVALID, "no valid generated crystal: no property metrics");
    if (n_valid < want)
        return cb_fail(err, CB_ERR_INVALID,
                       "only %zu valid generated crystals, fewer than the %zu the property metrics draw (the "
                       "reference raises here; use a smaller subset or all)",
                       n_valid, want);
    size_t *valid = malloc(n_valid * sizeof *valid), *perm = malloc(n_valid * sizeof *perm);
    if (!valid || !perm) {
        free(valid);
        free(perm);
        return cb_fail(err, CB_ERR_NOMEM, "out of memory");
    }
    size_t j = 0;
    for (size_t i = 0; i < n_gen; i++)
        if (gen[i].v.valid) valid[j++] = i;
    int rc = cb_np_permutation(o->seed, n_valid, perm, err);
    if (!rc)
        for (size_t i = 0; i < want; i++) perm[i] = valid[perm[i]];
    free(valid);
    if (rc) {
        free(perm);
        return rc;
    }
    *subset = perm;
    *k = want;
    return CB_OK;
}

static int property_metrics(const cb_dng_opts *o, const cb_dng_record *gen, const size_t *subset, size_t k,
                            const cb_dng_record *gt, size_t n_gt, size_t n_gen, cb_dng_result *out, cb_error *err)
{
    size_t cap = (k > n_gt ? k : n_gt) + n_gen;
    double *a = malloc(cap * sizeof *a), *b = malloc(cap * sizeof *b);
    double *rows_s = malloc(k * CB_STRUCT_FP_LEN * sizeof *rows_s), *rows_c = malloc(k * CB_COMP_FP_LEN * sizeof *rows_c);
    int rc = !a || !b || !rows_s || !rows_c ? cb_fail(err, CB_ERR_NOMEM, "out of memory") : CB_OK;
    size_t nb = 0;
    if (!rc) { /* density: the subset against every reference with a structure */
        for (size_t i = 0; i < k; i++) a[i] = gen[subset[i]].density;
        for (size_t j = 0; j < n_gt; j++)
            if (gt[j].has_structure) b[nb++] = gt[j].density;
        rc = cb_wasserstein1(a, k, b, nb, &out->wdist_density, err);
    }
    if (!rc) {
        for (size_t i = 0; i < k; i++) a[i] = gen[subset[i]].n_elems;
        for (size_t j = 0; j < n_gt; j++) b[j] = gt[j].n_elems;
        rc = cb_wasserstein1(a, k, b, n_gt, &out->wdist_num_elems, err);
    }
    out->wdist_nary = NAN;
    if (!rc && o->protocol == CB_DNG_FLOWMM) {
        for (size_t i = 0; i < n_gen; i++) a[i] = gen[i].v.absurd ? 1 : gen[i].n_elems;
        rc = cb_wasserstein1(a, n_gen, b, n_gt, &out->wdist_nary, err);
    }
    if (!rc) { /* diversity of the subset (valid crystals always have fingerprints) */
        for (size_t i = 0; i < k; i++) {
            memcpy(rows_s + i * CB_STRUCT_FP_LEN, gen[subset[i]].struct_fp, sizeof gen->struct_fp);
            memcpy(rows_c + i * CB_COMP_FP_LEN, gen[subset[i]].comp_fp, sizeof gen->comp_fp);
        }
        out->comp_div = cb_mean_pairwise_distance(rows_c, k, CB_COMP_FP_LEN);
        out->struct_div = cb_mean_pairwise_distance(rows_s, k, CB_STRUCT_FP_LEN);
    }
    free(a);
    free(b);
    free(rows_s);
    free(rows_c);
    return rc;
}

int cb_dng_evaluate(const cb_dng_opts *o, const cb_dng_record *gen, size_t n_gen, const cb_dng_record *gt,
                    size_t n_gt, cb_dng_result *out, cb_error *err)
{
    memset(out, 0, sizeof *out);
    if (n_gen == 0 || n_gt == 0)
        return cb_fail(err, CB_ERR_INVALID, "DNG evaluation: no %s crystals", n_gen ? "reference" : "generated");
    out->n_gen = n_gen;
    out->n_gt = n_gt;
    size_t cv = 0, sv = 0;
    for (size_t i = 0; i < n_gen; i++) {
        cv += gen[i].v.comp_valid;
        sv += gen[i].v.struct_valid;
        out->n_valid += gen[i].v.valid;
    }
    out->comp_valid = (double)cv / (double)n_gen;
    out->struct_valid = (double)sv / (double)n_gen;
    out->valid = (double)out->n_valid / (double)n_gen;

    size_t *subset = NULL, k = 0;
    int rc = draw_subset(o, gen, n_gen, &subset, &k, err);
    if (!rc) {
        out->n_subsample = k;
        rc = property_metrics(o, gen, subset, k, gt, n_gt, n_gen, out, err);
    }
    free(subset);
    if (rc) return rc;

    /* coverage: CTL fingerprints only valid crystals, and divides by those */
    cb_fp_set P, Q;
    double *ps = NULL, *pc = NULL, *qs = NULL, *qc = NULL;
    if (gather_fps(gen, n_gen, &P, &ps, &pc) || gather_fps(gt, n_gt, &Q, &qs, &qc)) {
        rc = cb_fail(err, CB_ERR_NOMEM, "out of memory for the fingerprints");
    } else {
        out->n_gen_fp = P.n;
        out->n_gt_fp = Q.n;
        size_t denominator = o->protocol == CB_DNG_CTL ? P.n : n_gen;
        rc = cb_coverage(&P, denominator, &Q, o->struct_cutoff, o->comp_cutoff, o->threads, &out->cov, err);
    }
    free(ps);
    free(pc);
    free(qs);
    free(qc);
    return rc;
}
