/* Checks every trained backend's tests share (tests/test_flowmm.c, tests/test_cdvae.c):
 * the loss gradient against central differences, a synthetic training set, exact resume,
 * and samples that do not depend on the number of sampling workers.  They fail the
 * running cmocka test on a mismatch. */
#ifndef CB_NN_TESTLIB_H
#define CB_NN_TESTLIB_H

#include <stddef.h>
#include <stdint.h>

#include "crystalbench/config.h"
#include "crystalbench/dataset.h"
#include "crystalbench/model.h"
#include "../../models/nn/train.h"

/* n crystals of 1..max_atoms atoms, lengths 3–7 Å, angles 70–110°, Z 1–60, from seed. */
void cb_test_synthetic_crystals(cb_dataset *set, int n, int max_atoms, uint64_t seed);

/* The loss at the current p->w with fixed draws; with backward its gradient accumulated
 * into the zeroed p->grad. */
typedef double (*cb_test_loss_fn)(void *ctx, int backward);

/* In every tensor reached (a non-zero gradient), its 3 largest gradient entries and 2
 * random ones against central differences of the float32 loss (step h =
 * 1e-2·max(1, |w|)/8): |a − n| must stay below 2e-2·max(|a|, |n|) + 1e-3·(the tensor's
 * largest |g|) + 1e-6·loss/h, so each tensor is held to its own scale down to the
 * resolution of the difference quotient.  Prints and returns the worst relative error. */
double cb_test_gradient_check(const char *label, cb_nn_params *p, cb_test_loss_fn loss, void *ctx);

/* c = the pairs kv[0..n) (a test's tiny configuration) under `source`, then epochs;
 * fails the test on an error. */
void cb_test_config_kv(cb_config *c, const char *source, const char *const (*kv)[2], size_t n, const char *epochs);

/* A fresh state of `backend` for task under cfg (fails the test on error). */
void *cb_test_new_model(const char *backend, const cb_config *cfg, unsigned task);

/* Training to the end, against training stopped at the first epoch's end, checkpointed,
 * loaded into a new state and trained to the end: the two final checkpoints must be the
 * same bytes. */
void cb_test_resume_exact(const char *backend, const cb_config *cfg, unsigned task, const cb_dataset *set);

/* Samples (DNG: 6; CSP: predictions for the first 6 of set) from a trained state with 1
 * and with 3 sampling workers (config key sample_threads): the crystals must be the same
 * bits, well formed, with fractional coordinates in [0, 1), and CSP predictions keep the
 * target's atoms (unless marked CB_GENERATION_FAILURE) and id.  Returns nothing; fails the test otherwise. */
void cb_test_samples_stable(const char *backend, const cb_config *cfg, unsigned task, const cb_dataset *set);

#endif
