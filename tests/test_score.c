/* Scoring counts generation failures (harness/score.c): samples marked with
 * CB_GENERATION_FAILURE give parse_rate and n_unparseable beside the usual metrics, the
 * failures count as misses, and unmarked samples add neither metric. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "../harness/score.h"
#include "crystalbench/dataset.h"
#include "crystalbench/store.h"
#include "support/testutil.h"

static int64_t new_run(cb_store *s)
{
    cb_run_info info = {.model = "text", .task = "csp", .dataset = "perov_5", .git_rev = "0123abc"};
    int64_t id;
    cb_error err;
    assert_int_equal(cb_store_begin_run(s, &info, &id, &err), CB_OK);
    return id;
}

static void test_parse_rate(void **state)
{
    (void)state;
    const char *path = cb_test_data_file("perov_5/test.csv");
    if (!path) skip();
    cb_dataset all;
    cb_error err;
    assert_int_equal(cb_dataset_load(path, CB_FORMAT_AUTO, &all, &err), CB_OK);
    enum { M = 4 };
    cb_crystal pred[M];
    for (int i = 0; i < M; i++) {
        memset(&pred[i], 0, sizeof pred[i]);
        assert_int_equal(cb_crystal_copy(&pred[i], &all.items[i], &err), CB_OK);
        assert_int_equal(cb_crystal_add_prop(&pred[i], CB_GENERATION_FAILURE, i == 2 ? "unparseable: line 1" : "", &err),
                         CB_OK);
    }
    cb_crystal_placeholder(&pred[2]); /* what a generator writes for a failure */
    char db[4200];
    snprintf(db, sizeof db, "%s/score.db", cb_test_scratch());
    cb_store *s;
    assert_int_equal(cb_store_open(db, &s, &err), CB_OK);
    cb_csp_opts o;
    cb_csp_opts_default(&o);
    cb_csp_result res;
    int64_t id = new_run(s);
    assert_int_equal(cb_score_csp(&o, pred, all.items, M, 1, s, id, &res, &err), CB_OK);
    double v;
    assert_int_equal(cb_store_get_metric(s, id, "parse_rate", &v, &err), CB_OK);
    assert_float_equal(v, 0.75, 1e-12);
    assert_int_equal(cb_store_get_metric(s, id, "n_unparseable", &v, &err), CB_OK);
    assert_float_equal(v, 1, 0);
    assert_int_equal(cb_store_get_metric(s, id, "match_rate", &v, &err), CB_OK);
    assert_true(v <= 0.75);
    /* unmarked predictions: no parse metrics */
    for (int i = 0; i < M; i++) {
        cb_crystal_free(&pred[i]);
        assert_int_equal(cb_crystal_copy(&pred[i], &all.items[i], &err), CB_OK);
    }
    id = new_run(s);
    assert_int_equal(cb_score_csp(&o, pred, all.items, M, 1, s, id, &res, &err), CB_OK);
    assert_int_not_equal(cb_store_get_metric(s, id, "parse_rate", &v, &err), CB_OK);
    for (int i = 0; i < M; i++) cb_crystal_free(&pred[i]);
    cb_store_close(s);
    cb_dataset_free(&all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_parse_rate)};
    return cmocka_run_group_tests(tests, cb_test_scratch_setup, cb_test_scratch_teardown);
}
