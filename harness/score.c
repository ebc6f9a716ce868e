/* Scoring and recording (score.h).  The reference side of a DNG evaluation (validity
 * and fingerprints of the test set) is cached in the store under the reference file's
 * SHA-256, so a second evaluation against the same test set fingerprints only the
 * samples. */
#include "score.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "crystalbench/hash.h"

/* ---- DNG ---- */

#define DNG_CACHE_VERSION 1

/* The cache key's kind: the protocol decides which records are fingerprinted, and the
 * record layout must match the reader's. */
static void cache_kind(cb_dng_protocol p, char *out, size_t cap)
{
    snprintf(out, cap, "dng_records/%s/%zu", cb_dng_protocol_name(p), sizeof(cb_dng_record));
}

static int reference_records(const cb_dng_opts *opts, const char *ref_path, const cb_dataset *ref,
                             cb_store *store, cb_dng_record **out, cb_error *err)
{
    char hash[CB_SHA256_HEX] = "", kind[64];
    cache_kind(opts->protocol, kind, sizeof kind);
    struct stat sb;
    int cacheable = store && ref_path && stat(ref_path, &sb) == 0 && S_ISREG(sb.st_mode);
    if (cacheable) {
        int rc = cb_sha256_file_hex(ref_path, hash, err);
        if (rc) return rc;
        void *blob;
        size_t len;
        rc = cb_store_cache_get(store, hash, kind, DNG_CACHE_VERSION, &blob, &len, err);
        if (!rc && len == ref->n * sizeof(cb_dng_record)) {
            *out = blob;
            return CB_OK;
        }
        if (!rc) free(blob);
        else if (rc != CB_ERR_EOF)
            return rc;
    }
    cb_dng_record *r = malloc((ref->n ? ref->n : 1) * sizeof *r);
    if (!r) return cb_fail(err, CB_ERR_NOMEM, "out of memory for %zu reference records", ref->n);
    cb_progress bar;
    cb_progress_start(&bar, "reference fingerprints", ref->n);
    cb_dng_opts o = *opts;
    o.progress = &bar;
    int rc = cb_dng_records(&o, ref->items, ref->n, 0, r, err);
    cb_progress_finish(&bar);
    if (!rc && cacheable) rc = cb_store_cache_put(store, hash, kind, DNG_CACHE_VERSION, r, ref->n * sizeof *r, err);
    if (rc) {
        free(r);
        return rc;
    }
    *out = r;
    return CB_OK;
}

/* Density and number of elements of the records that pass `keep`: the two property
 * distributions the Wasserstein metrics compare. */
static int put_property_series(cb_store *store, int64_t run_id, const cb_dng_record *r, size_t n, int valid_only,
                               const char *density_name, const char *elems_name, cb_error *err)
{
    double *density = malloc((n ? n : 1) * sizeof *density);
    double *elems = malloc((n ? n : 1) * sizeof *elems);
    if (!density || !elems) {
        free(density);
        free(elems);
        return cb_fail(err, CB_ERR_NOMEM, "out of memory for %zu property values", n);
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!r[i].has_structure || (valid_only && !r[i].v.valid)) continue;
        density[m] = r[i].density;
        elems[m++] = r[i].n_elems;
    }
    int rc = cb_store_put_series(store, run_id, density_name, density, m, err);
    if (!rc) rc = cb_store_put_series(store, run_id, elems_name, elems, m, err);
    free(density);
    free(elems);
    return rc;
}

size_t cb_dng_metric_list(cb_dng_protocol p, const cb_dng_result *r, const char **names, double *values)
{
    size_t k = 0;
#define PUT(name, value) (names[k] = (name), values[k++] = (value))
    PUT("comp_valid", r->comp_valid);
    PUT("struct_valid", r->struct_valid);
    PUT("valid", r->valid);
    PUT("cov_recall", r->cov.cov_recall);
    PUT("cov_precision", r->cov.cov_precision);
    PUT("amsd_recall", r->cov.amsd_recall);
    PUT("amsd_precision", r->cov.amsd_precision);
    PUT("amcd_recall", r->cov.amcd_recall);
    PUT("amcd_precision", r->cov.amcd_precision);
    PUT("wdist_density", r->wdist_density);
    PUT("wdist_num_elems", r->wdist_num_elems);
    if (p == CB_DNG_FLOWMM) PUT("wdist_nary", r->wdist_nary);
    PUT("comp_div", r->comp_div);
    PUT("struct_div", r->struct_div);
    PUT("n_generated", (double)r->n_gen);
    PUT("n_valid", (double)r->n_valid);
    PUT("n_subsample", (double)r->n_subsample);
    PUT("n_reference", (double)r->n_gt);
    PUT("n_generated_fp", (double)r->n_gen_fp);
    PUT("n_reference_fp", (double)r->n_gt_fp);
#undef PUT
    return k;
}

/* A backend that can fail to produce a crystal (the text backend: a text that does not
 * parse) writes a placeholder no metric accepts and marks every crystal it writes with
 * the prop CB_GENERATION_FAILURE, empty or the reason.  When the samples carry the mark,
 * parse_rate (the share not failed; every rate above already counts the failures as
 * invalid) and n_unparseable join the metrics. */
static size_t put_generation_failures(const cb_crystal *c, size_t n, const char **names, double *values, size_t k)
{
    size_t marked = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        const char *v = cb_crystal_prop(&c[i], CB_GENERATION_FAILURE);
        marked += v != NULL;
        failed += v && *v;
    }
    if (!marked || k + 2 > CB_SCORE_MAX_METRICS) return k;
    names[k] = "parse_rate", values[k++] = n ? 1.0 - (double)failed / (double)n : 0;
    names[k] = "n_unparseable", values[k++] = (double)failed;
    return k;
}

int cb_score_dng(const cb_dng_opts *o, const char *ref_path, const cb_dataset *ref, const cb_crystal *samples,
                 size_t n, cb_store *store, int64_t run_id, cb_dng_result *res, cb_error *err)
{
    cb_dng_record *gen = NULL, *gt = NULL;
    int rc = reference_records(o, ref_path, ref, store, &gt, err);
    if (!rc && !(gen = malloc((n ? n : 1) * sizeof *gen)))
        rc = cb_fail(err, CB_ERR_NOMEM, "out of memory for %zu sample records", n);
    if (!rc) {
        cb_progress bar;
        cb_progress_start(&bar, "sample fingerprints", n);
        cb_dng_opts so = *o;
        so.progress = &bar;
        rc = cb_dng_records(&so, samples, n, 1, gen, err);
        cb_progress_finish(&bar);
    }
    if (!rc) rc = cb_dng_evaluate(o, gen, n, gt, ref->n, res, err);
    if (!rc && res->n_gt_fp < res->n_gt)
        fprintf(stderr, "crystalbench: note: %zu of %zu reference crystals have no fingerprint and are left out of "
                        "coverage (the reference evaluation would stop here)\n",
                res->n_gt - res->n_gt_fp, res->n_gt);
    if (!rc && store) rc = put_property_series(store, run_id, gen, n, 1, "density", "num_elems", err);
    if (!rc && store) rc = put_property_series(store, run_id, gt, ref->n, 0, "ref_density", "ref_num_elems", err);
    if (!rc && store) {
        const char *names[CB_SCORE_MAX_METRICS];
        double values[CB_SCORE_MAX_METRICS];
        size_t k = cb_dng_metric_list(o->protocol, res, names, values);
        k = put_generation_failures(samples, n, names, values, k);
        rc = cb_store_finish_run_with_metrics(store, run_id, names, values, k, err);
    }
    free(gen);
    free(gt);
    return rc;
}

/* ---- CSP ---- */

size_t cb_csp_metric_list(const cb_csp_result *r, const char **names, double *values)
{
    size_t k = 0;
#define PUT(name, value) (names[k] = (name), values[k++] = (value))
    PUT("match_rate", r->match_rate);
    PUT("rms_dist", r->rms_dist);
    PUT("n_targets", (double)r->n_targets);
    PUT("n_pred", (double)r->n_pred);
    PUT("n_matched", (double)r->n_matched);
    PUT("n_valid", (double)r->n_valid_pred);
    PUT("n_valid_targets", (double)r->n_valid_targets);
    PUT("k", (double)r->k);
    PUT("n_match_errors", (double)r->n_match_errors);
#undef PUT
    return k;
}

int cb_score_csp(const cb_csp_opts *o, const cb_crystal *preds, const cb_crystal *targets, size_t m, size_t k,
                 cb_store *store, int64_t run_id, cb_csp_result *res, cb_error *err)
{
    double *rms = malloc((m ? m : 1) * sizeof *rms);
    if (!rms) return cb_fail(err, CB_ERR_NOMEM, "out of memory for %zu targets", m);
    int rc = cb_csp_evaluate(o, preds, targets, m, k, rms, res, err);
    if (!rc && store) rc = cb_store_put_series(store, run_id, "rms", rms, m, err);
    if (!rc && store) {
        const char *names[CB_SCORE_MAX_METRICS];
        double values[CB_SCORE_MAX_METRICS];
        size_t nm = cb_csp_metric_list(res, names, values);
        nm = put_generation_failures(preds, m * k, names, values, nm);
        rc = cb_store_finish_run_with_metrics(store, run_id, names, values, nm, err);
    }
    free(rms);
    return rc;
}
