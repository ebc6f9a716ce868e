/* Run configs: how a [model] section's scoped keys (TASK.KEY, DATASET.KEY,
 * DATASET.TASK.KEY) reach each job's backend configuration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "crystalbench/config.h"
#include "crystalbench/model.h"
#include "../harness/plan.h"
#include "support/testutil.h"

static void test_key_scope(void **state)
{
    (void)state;
    struct {
        const char *key, *dataset;
        unsigned task;
        int rank;
        const char *base;
    } cases[] = {
        {"epochs", "mp_20", CB_TASK_DNG, 0, "epochs"},
        {"dng.epochs", "mp_20", CB_TASK_DNG, 1, "epochs"},
        {"dng.epochs", "mp_20", CB_TASK_CSP, -1, NULL},
        {"csp.epochs", NULL, CB_TASK_CSP, 1, "epochs"},
        {"mp_20.epochs", "mp_20", CB_TASK_CSP, 2, "epochs"},
        {"mp_20.epochs", "mp_2", CB_TASK_CSP, -1, NULL}, /* names match whole */
        {"mp_20.epochs", "mp_200", CB_TASK_CSP, -1, NULL},
        {"mp_20.epochs", NULL, CB_TASK_CSP, -1, NULL},
        {"mp_20.dng.epochs", "mp_20", CB_TASK_DNG, 3, "epochs"},
        {"mp_20.dng.epochs", "mp_20", CB_TASK_CSP, -1, NULL},
        {"mp_20.csp.epochs", "perov_5", CB_TASK_CSP, -1, NULL},
        {"mp_20.dngx.epochs", "mp_20", CB_TASK_DNG, 2, "dngx.epochs"}, /* the backend rejects it */
        {"mp_20.", "mp_20", CB_TASK_DNG, -1, NULL},
        {"dng.", "mp_20", CB_TASK_DNG, -1, NULL},
        {"mp_20.dng.", "mp_20", CB_TASK_DNG, -1, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *base = NULL;
        int rank = cb_plan_key_scope(cases[i].key, cases[i].dataset, cases[i].task, &base);
        if (rank != cases[i].rank || (rank >= 0 && strcmp(base, cases[i].base) != 0))
            fail_msg("%s on (%s, %s): rank %d base '%s', want %d '%s'", cases[i].key,
                     cases[i].dataset ? cases[i].dataset : "NULL", cb_task_name(cases[i].task), rank,
                     rank >= 0 ? base : "", cases[i].rank, cases[i].base ? cases[i].base : "");
    }
}

/* Loads a run config of two datasets (perov_5 and mp_20, both a few Perov-5 rows) and
 * one [model m] of the example backend with `model_keys`. */
static void load(const char *model_keys, cb_plan *plan)
{
    char dir[4200], path[4300];
    snprintf(dir, sizeof dir, "%s/perov_5", cb_test_scratch());
    mkdir(dir, 0777);
    snprintf(path, sizeof path, "%s/val.csv", dir);
    cb_test_write_head("perov_5/val.csv", 20, path);
    snprintf(path, sizeof path, "%s/test.csv", dir);
    cb_test_write_head("perov_5/test.csv", 10, path);
    snprintf(path, sizeof path, "%s/p.ini", cb_test_scratch());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "[run]\ndb = %s/p.db\nworkdir = %s/w\n\n[dataset perov_5]\ndir = %s\n\n[dataset mp_20]\ndir = %s\n\n"
            "[model m]\nbackend = example\n%s",
            cb_test_scratch(), cb_test_scratch(), dir, dir, model_keys);
    fclose(f);
    cb_error err;
    if (cb_plan_load(path, plan, &err)) fail_msg("%s", err.msg);
}

/* The most specific key wins whatever the order of the lines. */
static void test_backend_config_precedence(void **state)
{
    (void)state;
    if (!cb_test_shared_data()) skip();
    cb_plan plan;
    cb_error err;
    load("perov_5.csp.max_atoms = 17\nperov_5.max_atoms = 18\ndng.max_atoms = 19\nmax_atoms = 20\n", &plan);
    struct {
        const char *dataset;
        unsigned task;
        const char *want;
    } cases[] = {{"perov_5", CB_TASK_CSP, "17"}, {"perov_5", CB_TASK_DNG, "18"}, {"mp_20", CB_TASK_DNG, "19"},
                 {"mp_20", CB_TASK_CSP, "20"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cb_config cfg;
        assert_int_equal(cb_plan_backend_config(&plan.models[0], cases[i].dataset, cases[i].task, &cfg, &err), CB_OK);
        const char *v = cb_config_get(&cfg, "max_atoms");
        if (!v || strcmp(v, cases[i].want) != 0)
            fail_msg("(%s, %s): max_atoms %s, want %s", cases[i].dataset, cb_task_name(cases[i].task), v ? v : "unset",
                     cases[i].want);
        for (size_t k = 0; k < cfg.n; k++) assert_null(strchr(cfg.keys[k], '.'));
        cb_config_free(&cfg);
    }
    cb_plan_free(&plan);
}

/* DATASET.tasks replaces `tasks` for that dataset's jobs only. */
static void test_dataset_tasks(void **state)
{
    (void)state;
    if (!cb_test_shared_data()) skip();
    cb_plan plan;
    load("tasks = csp\nmp_20.tasks = dng, csp\n", &plan);
    unsigned seen[2] = {0, 0}; /* tasks per dataset: perov_5, mp_20 */
    for (size_t j = 0; j < plan.n_jobs; j++)
        seen[strcmp(plan.datasets[plan.jobs[j].dataset].name, "mp_20") == 0] |= plan.jobs[j].task;
    assert_int_equal(plan.n_jobs, 3);
    assert_int_equal(seen[0], CB_TASK_CSP);
    assert_int_equal(seen[1], CB_TASK_DNG | CB_TASK_CSP);
    cb_config cfg; /* and it is no backend key */
    cb_error err;
    assert_int_equal(cb_plan_backend_config(&plan.models[0], "mp_20", CB_TASK_DNG, &cfg, &err), CB_OK);
    assert_null(cb_config_get(&cfg, "tasks"));
    cb_config_free(&cfg);
    cb_plan_free(&plan);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_key_scope),
                                       cmocka_unit_test(test_backend_config_precedence),
                                       cmocka_unit_test(test_dataset_tasks)};
    return cmocka_run_group_tests(tests, cb_test_scratch_setup, cb_test_scratch_teardown);
}
