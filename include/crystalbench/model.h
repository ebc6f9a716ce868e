/* The model backend interface: a versioned struct of function pointers, in the manner
 * of SQLite's sqlite3_module.  A backend is one folder under models/ and one line in
 * models/registry.c; the harness drives every backend through these entry points only.
 *
 * Contract (tests/test_backend_contract.c checks it for every registered backend):
 *   - create() validates the whole configuration (unknown keys, out-of-range values are
 *     CB_ERR_USAGE with a message naming the key) and returns an owned state for ONE
 *     task, CB_TASK_DNG or CB_TASK_CSP (a harness job is one model, dataset and task):
 *     a backend that learns a different network per task (FlowMM: analog-bit types for
 *     DNG, fixed types for CSP) builds that one; a backend that serves both from the
 *     same state ignores it.  The state's checkpoint is the task's; only that task's
 *     entry point is called on it;
 *   - train() may be a no-op (external samples, baselines without parameters);
 *   - save() then load() into a fresh state gives the same samples for the same RNG;
 *   - train() that returned CB_ERR_INTERRUPTED leaves a state save() can write; train()
 *     on a state loaded from that checkpoint continues, and ends where an uninterrupted
 *     train() would have (a backend that cannot continue simply trains again);
 *   - sample_dng() fills out[0..n) with crystals the caller frees (cb_crystal_free);
 *     predict_csp() fills out[i] with a prediction for targets[i];
 *   - the harness asks in chunks: sample_dng(5) then sample_dng(3) with the same RNG
 *     gives what sample_dng(8) gives (and likewise predict_csp on consecutive targets);
 *   - every entry point returns CB_OK or an error code with err set; none aborts;
 *   - destroy(NULL) is a no-op.
 * A backend that does not do a task leaves its entry point NULL and its bit out of
 * `tasks`. */
#ifndef CRYSTALBENCH_MODEL_H
#define CRYSTALBENCH_MODEL_H

#include <signal.h>
#include <stddef.h>

#include "crystalbench/config.h"
#include "crystalbench/crystal.h"
#include "crystalbench/dataset.h"
#include "crystalbench/error.h"
#include "crystalbench/progress.h"
#include "crystalbench/rng.h"

#define CB_MODEL_ABI 3 /* bump when cb_model_ops or cb_train_ctx changes (2: cb_train_ctx; 3: create takes the task) */

enum { CB_TASK_DNG = 1u << 0, CB_TASK_CSP = 1u << 1 };
/* flags: CB_MODEL_NO_TRAINING — train() is a no-op because the structures were made
 * elsewhere (the external backend); its runs record the split as "external". */
enum { CB_MODEL_NO_TRAINING = 1u << 0 };

/* What the harness hands to train(): where to report progress and the loss curve, and
 * how it asks training to stop early.  Every field may be NULL. */
typedef struct cb_train_ctx {
    cb_progress *progress; /* started with total 0: set ->total to the step count (for the
                              ETA), cb_progress_update per step, a note "loss 0.123" */
    /* Records named values (loss, learning rate, …) at a step for the loss curves of
     * `crystalbench plot`; returns nonzero when they could not be stored. */
    int (*log)(void *user, long step, const char *const *names, const double *values, size_t n);
    void *user;
    /* Set (asynchronously, from a signal handler) when the user interrupts: a backend
     * that trains for long checks it between steps and returns CB_ERR_INTERRUPTED with
     * its state as it stands; the harness saves it and, on the next run, loads it and
     * calls train() again to continue. */
    const volatile sig_atomic_t *stop;
} cb_train_ctx;

typedef struct cb_model_ops {
    int abi_version;     /* CB_MODEL_ABI */
    const char *name;    /* "external", "example", "flowmm", … (lower case, no spaces) */
    const char *summary; /* one line for listings */
    unsigned tasks;      /* CB_TASK_DNG | CB_TASK_CSP */
    unsigned flags;      /* CB_MODEL_NO_TRAINING */
    int (*create)(const cb_config *cfg, unsigned task, void **state, cb_error *err);
    int (*train)(void *state, const cb_dataset *train, const cb_dataset *val, const cb_train_ctx *ctx, cb_error *err);
    int (*save)(const void *state, const char *path, cb_error *err);
    int (*load)(void *state, const char *path, cb_error *err);
    int (*sample_dng)(void *state, size_t n, cb_rng *rng, cb_crystal *out, cb_error *err);
    int (*predict_csp)(void *state, const cb_crystal *targets, size_t n, cb_rng *rng, cb_crystal *out,
                       cb_error *err);
    void (*destroy)(void *state);
} cb_model_ops;

/* The registered backends (models/registry.c), in listing order. */
size_t cb_model_count(void);
const cb_model_ops *cb_model_at(size_t i);
/* The backend named `name`, or NULL. */
const cb_model_ops *cb_model_find(const char *name);

#endif
