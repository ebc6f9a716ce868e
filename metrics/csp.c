/* Match rate and RMSE (metrics.md §1.2); semantics in csp.h.
 *
 * Targets are independent, so with threads > 1 workers take targets from a shared
 * counter and write per-target results; the sums are formed afterwards in target
 * order, so the numbers never depend on the thread count.  The reference forms
 * rms_dist with numpy's mean over an OBJECT array (None entries filtered out), which
 * adds Python floats left to right: a plain sequential sum here. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crystalbench/csp.h"
#include "crystalbench/parallel.h"

void cb_csp_opts_default(cb_csp_opts *o)
{
    memset(o, 0, sizeof *o);
    o->protocol = CB_PROTOCOL_DIFFCSP;
    o->matcher = cb_matcher_csp();
    o->threads = 1;
}

typedef struct target_out {
    double rms; /* best over the target's predictions; NaN = miss */
    int target_valid;
    int n_valid_pred, n_tried, n_errors;
} target_out;

typedef struct job {
    const cb_csp_opts *o;
    const cb_crystal *preds, *targets;
    size_t m, k;
    target_out *res;
} job;

static int all_fermium(const cb_crystal *c)
{
    for (int i = 0; i < c->n; i++)
        if (c->z[i] != 100) return 0;
    return 1;
}

/* One prediction against its target: *rms = NaN when not matched.  Returns 0, or
 * CB_ERR_NOMEM; other matcher failures are counted in *errors. */
static int try_pair(const cb_csp_opts *o, const cb_crystal *p, const cb_validity *pv, const cb_crystal *t,
                    double *rms, int *errors, cb_error *err)
{
    *rms = NAN;
    cb_crystal absurd = {0};
    if (pv->absurd) {
        /* One Fm atom can only match a pure-Fm target (the comparator needs identical
         * species); skip the matcher otherwise. */
        if (!all_fermium(t)) return CB_OK;
        int rc = cb_flowmm_absurd_crystal(&absurd, err);
        if (rc) return rc;
        p = &absurd;
    }
    cb_match_result r;
    cb_error merr;
    int rc = cb_match_rms_dist(&o->matcher, p, t, &r, &merr);
    cb_crystal_free(&absurd);
    if (rc == CB_ERR_NOMEM) {
        if (err) *err = merr;
        return rc;
    }
    if (rc) {
        (*errors)++;
        return CB_OK;
    }
    if (r.matched) *rms = r.rms;
    return CB_OK;
}

static int eval_target(void *ctx, size_t i, cb_error *err)
{
    job *J = ctx;
    const cb_csp_opts *o = J->o;
    const cb_crystal *t = &J->targets[i];
    target_out *out = &J->res[i];
    memset(out, 0, sizeof *out);
    out->rms = NAN;
    cb_validity tv, pv;
    int rc = cb_validity_of_crystal(o->protocol, 0, t, &tv, err);
    if (rc) return rc;
    out->target_valid = tv.valid;
    for (size_t j = 0; j < J->k; j++) {
        const cb_crystal *p = &J->preds[i * J->k + j];
        rc = cb_validity_of_crystal(o->protocol, 1, p, &pv, err);
        if (rc) return rc;
        out->n_valid_pred += pv.valid;
        /* The gate: multi-sample evaluation checks only the prediction; single-sample
         * DiffCSP/FlowMM also need a valid target. */
        int gate = o->no_gate || (pv.valid && (J->k > 1 || o->protocol == CB_PROTOCOL_CDVAE || tv.valid));
        if (!gate) continue;
        out->n_tried++;
        double r;
        rc = try_pair(o, p, &pv, t, &r, &out->n_errors, err);
        if (rc) return rc;
        if (!isnan(r) && (isnan(out->rms) || r < out->rms)) out->rms = r;
    }
    return CB_OK;
}

int cb_csp_evaluate(const cb_csp_opts *o, const cb_crystal *preds, const cb_crystal *targets, size_t m,
                    size_t k, double *rms, cb_csp_result *out, cb_error *err)
{
    memset(out, 0, sizeof *out);
    out->match_rate = out->rms_dist = NAN;
    if (k < 1) return cb_fail(err, CB_ERR_USAGE, "CSP evaluation needs k >= 1 predictions per target");
    out->n_targets = m;
    out->k = k;
    out->n_pred = m * k;
    if (m == 0) return CB_OK;

    job J = {o, preds, targets, m, k, malloc(m * sizeof *J.res)};
    if (!J.res) return cb_fail(err, CB_ERR_NOMEM, "out of memory for %zu CSP targets", m);
    int rc = cb_parallel_for(m, o->threads, eval_target, &J, o->progress, err);
    if (rc) {
        free(J.res);
        return rc;
    }

    double sum = 0.0;
    for (size_t i = 0; i < m; i++) {
        const target_out *r = &J.res[i];
        out->n_valid_pred += (size_t)r->n_valid_pred;
        out->n_valid_targets += (size_t)r->target_valid;
        out->n_tried += (size_t)r->n_tried;
        out->n_match_errors += (size_t)r->n_errors;
        if (!isnan(r->rms)) {
            out->n_matched++;
            sum += r->rms;
        }
        if (rms) rms[i] = r->rms;
    }
    out->match_rate = (double)out->n_matched / (double)m;
    if (out->n_matched) out->rms_dist = sum / (double)out->n_matched;
    free(J.res);
    return CB_OK;
}
