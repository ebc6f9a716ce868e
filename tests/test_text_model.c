/* The text backend (models/text/text.h) on synthetic crystals:
 *   - top-p sampling keeps the smallest likely prefix (a distribution with a known
 *     nucleus), and temperature sharpens;
 *   - training lowers the per-token loss; 2N steps = N + checkpoint + N, bit for bit;
 *   - samples do not depend on the number of workers; an untrained model's texts do
 *     not parse and come back as marked placeholders, which scoring counts;
 *   - the training sequences: prompt tokens carry no loss, CSP prompts spell the
 *     composition. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../models/text/text.h"
#include "nn_testlib.h"
#include "testutil.h"

#define N_CRYSTALS 24

static cb_dataset g_set;

static int setup(void **state)
{
    if (cb_test_scratch_setup(state)) return -1;
    cb_test_synthetic_crystals(&g_set, N_CRYSTALS, 4, 7);
    return 0;
}

static int teardown(void **state)
{
    cb_dataset_free(&g_set);
    return cb_test_scratch_teardown(state);
}

static void tiny_config(cb_config *c, const char *epochs)
{
    static const char *const kv[][2] = {{"d", "16"},   {"layers", "2"},  {"heads", "2"}, {"ctx", "64"},
                                        {"batch", "6"}, {"warmup", "4"}, {"lr", "3e-3"}, {"lr_min", "3e-3"}};
    cb_test_config_kv(c, "test [text]", kv, sizeof kv / sizeof kv[0], epochs);
}

static void test_top_p(void **state)
{
    (void)state;
    /* probabilities 0.5, 0.3, 0.15, 0.05 (as logits): top-p 0.75 keeps the first two */
    float logits[CB_TOK_VOCAB];
    for (int k = 0; k < CB_TOK_VOCAB; k++) logits[k] = -1e9f;
    logits[40] = logf(0.5f), logits[12] = logf(0.3f), logits[7] = logf(0.15f), logits[99] = logf(0.05f);
    cb_rng rng;
    cb_rng_seed(&rng, 1);
    int count[CB_TOK_VOCAB] = {0};
    for (int i = 0; i < 20000; i++) count[text_pick(logits, CB_TOK_VOCAB, 1.0, 0.75, &rng)]++;
    assert_int_equal(count[7] + count[99], 0);
    assert_true(fabs(count[40] / 20000.0 - 0.625) < 0.02); /* 0.5 / 0.8 renormalised */
    /* p = 1 keeps all; a low temperature makes the mode near certain */
    memset(count, 0, sizeof count);
    for (int i = 0; i < 20000; i++) count[text_pick(logits, CB_TOK_VOCAB, 1.0, 1.0, &rng)]++;
    assert_true(count[99] > 700 && count[99] < 1300);
    memset(count, 0, sizeof count);
    for (int i = 0; i < 2000; i++) count[text_pick(logits, CB_TOK_VOCAB, 0.05, 1.0, &rng)]++;
    assert_true(count[40] > 1990);
}

static void test_sequences(void **state)
{
    (void)state;
    cb_config c;
    tiny_config(&c, "1");
    text_model *m = cb_test_new_model("text", &c, CB_TASK_DNG);
    int tok[64], n, prompt;
    cb_error err;
    const cb_crystal *x = &g_set.items[0];
    assert_int_equal(text_sequence(&m->cfg, x, CB_TASK_DNG, NULL, tok, 64, &n, &prompt, &err), CB_OK);
    assert_int_equal(tok[0], CB_TOK_BOS);
    assert_int_equal(tok[1], CB_TOK_DNG);
    assert_int_equal(prompt, 2);
    assert_int_equal(tok[prompt], CB_TOK_SEP);
    assert_int_equal(tok[n - 1], CB_TOK_EOS);
    int comp[32], nc;
    assert_int_equal(text_sequence(&m->cfg, x, CB_TASK_CSP, NULL, tok, 64, &n, &prompt, &err), CB_OK);
    assert_int_equal(cb_text_composition(x, comp, 32, &nc, &err), CB_OK);
    assert_int_equal(prompt, 2 + nc);
    assert_memory_equal(tok + 2, comp, (size_t)nc * sizeof *comp);
    assert_int_equal(text_sequence(&m->cfg, x, CB_TASK_CSP, NULL, tok, 8, &n, &prompt, &err), CB_ERR_USAGE);
    cb_model_find("text")->destroy(m);
    cb_config_free(&c);
}

/* After 40 epochs the per-token loss of the training crystals' DNG sequences (EMA
 * weights) is below half an untrained model's ln V. */
static void test_training_lowers_loss(void **state)
{
    (void)state;
    cb_config c;
    tiny_config(&c, "40");
    text_model *m = cb_test_new_model("text", &c, CB_TASK_DNG);
    cb_error err;
    if (text_train(m, &g_set, NULL, NULL, &err)) fail_msg("train: %s", err.msg);
    int tokens[6 * 63], targets[6 * 63], tok[64], n, prompt;
    for (int b = 0; b < 6; b++) {
        assert_int_equal(text_sequence(&m->cfg, &g_set.items[b], CB_TASK_DNG, NULL, tok, 64, &n, &prompt, &err), CB_OK);
        for (int t = 0; t < 63; t++) {
            tokens[b * 63 + t] = t < n - 1 ? tok[t] : CB_TOK_PAD;
            targets[b * 63 + t] = t < n - 1 && t >= prompt ? tok[t + 1] : -1;
        }
    }
    double untrained = log((double)CB_TOK_VOCAB), loss;
    assert_int_equal(cb_gpt_forward(&m->gpt, m->gpt.p.ema, &m->acts, tokens, targets, 6, 63, &loss, &err), CB_OK);
    printf("text: per-token loss %.3f untrained (ln V), %.3f after 40 epochs (%llu steps)\n", untrained, loss,
           (unsigned long long)m->at.step);
    assert_true(loss < 0.5 * untrained);
    cb_model_find("text")->destroy(m);
    cb_config_free(&c);
}

static void test_resume_is_exact(void **state)
{
    (void)state;
    cb_config c;
    tiny_config(&c, "3");
    cb_test_resume_exact("text", &c, CB_TASK_DNG, &g_set);
    cb_config_free(&c);
}

static void test_samples(void **state)
{
    (void)state;
    cb_config c;
    tiny_config(&c, "30");
    cb_error err;
    assert_int_equal(cb_crystal_set_id(&g_set.items[3], "target-3", &err), CB_OK);
    for (unsigned task = CB_TASK_DNG; task <= CB_TASK_CSP; task <<= 1) cb_test_samples_stable("text", &c, task, &g_set);
    cb_config_free(&c);
}

/* Untrained, almost no text parses: every sample is marked, the failures are placeholders
 * (cb_crystal_placeholder), and a CSP placeholder keeps the target's id. */
static void test_unparseable_marked(void **state)
{
    (void)state;
    cb_config c;
    tiny_config(&c, "1");
    assert_int_equal(cb_config_set(&c, "lr", "1e-9", NULL), CB_OK);
    assert_int_equal(cb_config_set(&c, "lr_min", "0", NULL), CB_OK);
    const cb_model_ops *ops = cb_model_find("text");
    cb_error err;
    for (unsigned task = CB_TASK_DNG; task <= CB_TASK_CSP; task <<= 1) {
        text_model *m = cb_test_new_model("text", &c, task);
        assert_int_equal(ops->train(m, &g_set, NULL, NULL, &err), CB_OK);
        cb_crystal out[8];
        cb_rng rng;
        cb_rng_seed(&rng, 4);
        int rc = task == CB_TASK_DNG ? ops->sample_dng(m, 8, &rng, out, &err)
                                     : ops->predict_csp(m, g_set.items, 8, &rng, out, &err);
        if (rc) fail_msg("%s", err.msg);
        int failed = 0;
        for (int i = 0; i < 8; i++) {
            const char *why = cb_crystal_prop(&out[i], CB_GENERATION_FAILURE);
            assert_non_null(why);
            if (*why) {
                failed++;
                assert_non_null(strstr(why, "unparseable: "));
                assert_int_equal(out[i].n, 2);
                assert_float_equal(out[i].lattice[0][0], 0.4, 0);
                assert_float_equal(out[i].frac[1][0], 0.5, 0);
                if (task == CB_TASK_CSP && g_set.items[i].id) assert_string_equal(out[i].id, g_set.items[i].id);
            }
            cb_crystal_free(&out[i]);
        }
        printf("untrained %s: %d of 8 texts unparseable\n", task == CB_TASK_DNG ? "dng" : "csp", failed);
        assert_true(failed >= 6);
        ops->destroy(m);
    }
    cb_config_free(&c);
}

/* Constrained CSP decoding, walked along a target's own token sequence: every true token
 * stays allowed, an element line allows only the prompt's next element, and after the
 * last coordinate only <eos>. */
static void test_constrained_grammar(void **state)
{
    (void)state;
    cb_error err;
    for (int i = 0; i < N_CRYSTALS; i++) {
        const cb_crystal *x = &g_set.items[i];
        int tok[128], n;
        assert_int_equal(cb_text_encode(x, 0, tok, 127, &n, &err), CB_OK);
        tok[n++] = CB_TOK_EOS;
        text_grammar g;
        text_grammar_start(&g, x);
        int elements = 0;
        for (int t = 0; t < n; t++) {
            float logits[CB_TOK_VOCAB];
            for (int k = 0; k < CB_TOK_VOCAB; k++) logits[k] = 0;
            text_grammar_mask(&g, logits);
            if (logits[tok[t]] != 0) fail_msg("crystal %d: token %d (%d) masked", i, t, tok[t]);
            int allowed = 0;
            for (int k = 0; k < CB_TOK_VOCAB; k++) allowed += logits[k] == 0;
            int special = tok[t] == CB_TOK_EOS || tok[t] >= CB_TOK_ELEMENT1;
            if (special) assert_int_equal(allowed, 1); /* forced */
            else assert_int_equal(allowed, CB_TOK_VOCAB - 1 - (CB_TOK_VOCAB - CB_TOK_ELEMENT1));
            elements += tok[t] >= CB_TOK_ELEMENT1;
            text_grammar_advance(&g, tok[t]);
        }
        assert_int_equal(elements, x->n);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_top_p),       cmocka_unit_test(test_sequences),
                                       cmocka_unit_test(test_training_lowers_loss),
                                       cmocka_unit_test(test_resume_is_exact), cmocka_unit_test(test_samples),
                                       cmocka_unit_test(test_unparseable_marked),
                                       cmocka_unit_test(test_constrained_grammar)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
