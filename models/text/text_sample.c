/* Sampling the text backend (models.md §5.5): the prompt (<bos><dng><sep>, or
 * <bos><csp> composition <sep>) through the KV cache, then tokens drawn at the
 * temperature with nucleus top_p until <eos> or a full context, with the EMA weights
 * (the weights themselves at the default ema_decay = 0).  The text is parsed; one that
 * does not parse (or ends without <eos>, or, for CSP, has other atoms than the prompt)
 * becomes a placeholder no metric accepts — two atoms in cb_crystal_placeholder's cell, of
 * Og (DNG: no oxidation states, so compositionally invalid too) or of the target's first
 * two elements (CSP) — with the prop CB_GENERATION_FAILURE = "unparseable: <reason>"
 * (every other sample carries it empty), so scoring reports the parse rate.  Nothing is
 * resampled.
 *
 * With constrained = 1, CSP decoding follows the prompt's composition (grammar below);
 * the default is the reference-like unconstrained decoding.
 *
 * Each crystal draws from its own stream, seeded from the caller's rng in order before
 * any decoding, and is decoded alone: the same crystals for any number of workers and
 * any chunking. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystalbench/elements.h"
#include "../nn/slots.h"
#include "text.h"

int text_pick(const float *logits, int V, double temperature, double top_p, cb_rng *rng)
{
    double p[CB_TOK_VOCAB], mx = -INFINITY, sum = 0;
    int order[CB_TOK_VOCAB];
    if (V > CB_TOK_VOCAB) V = CB_TOK_VOCAB;
    for (int k = 0; k < V; k++) mx = logits[k] / temperature > mx ? logits[k] / temperature : mx;
    for (int k = 0; k < V; k++) sum += p[k] = exp(logits[k] / temperature - mx);
    for (int k = 0; k < V; k++) {
        p[k] /= sum;
        order[k] = k;
    }
    /* descending probability, ties by token id (insertion sort: V is 221) */
    for (int i = 1; i < V; i++) {
        int t = order[i], j = i;
        while (j > 0 && (p[order[j - 1]] < p[t] || (p[order[j - 1]] == p[t] && order[j - 1] > t))) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = t;
    }
    int keep = 0;
    double mass = 0;
    while (keep < V && (keep == 0 || mass < top_p)) mass += p[order[keep++]];
    double u = cb_rng_uniform(rng) * mass, acc = 0;
    for (int i = 0; i < keep; i++) {
        acc += p[order[i]];
        if (u < acc) return order[i];
    }
    return order[keep - 1];
}

typedef struct slot {
    cb_gpt_kv kv;
    float *logits;
    int *tokens;
    char *text;
} slot;

typedef struct sampler {
    text_model *m;
    const cb_crystal *targets;
    cb_crystal *out;
    const uint64_t *seeds;
    slot *slots;
} sampler;

static int placeholder(const cb_crystal *target, const char *why, cb_crystal *out, cb_error *err)
{
    int rc = cb_crystal_alloc(out, 2, err);
    if (rc) return rc;
    for (int i = 0; i < 2; i++) out->z[i] = target ? target->z[i % target->n] : CB_MAX_Z;
    cb_crystal_placeholder(out);
    char reason[256];
    snprintf(reason, sizeof reason, "unparseable: %s", why);
    rc = cb_crystal_add_prop(out, CB_GENERATION_FAILURE, reason, err);
    if (!rc && target && target->id) rc = cb_crystal_set_id(out, target->id, err);
    if (rc) cb_crystal_free(out);
    return rc;
}

static int same_atoms(const cb_crystal *a, const cb_crystal *b)
{
    int count[CB_MAX_Z + 1] = {0};
    if (a->n != b->n) return 0;
    for (int i = 0; i < a->n; i++) count[a->z[i]]++, count[b->z[i]]--;
    for (int z = 0; z <= CB_MAX_Z; z++)
        if (count[z]) return 0;
    return 1;
}

void text_grammar_start(text_grammar *g, const cb_crystal *target)
{
    memset(g, 0, sizeof *g);
    for (int z = 1; z <= CB_TEXT_MAX_Z; z++)
        for (int i = 0; i < target->n && g->n_atoms < (int)(sizeof g->order / sizeof g->order[0]); i++)
            if (target->z[i] == z) g->order[g->n_atoms++] = CB_TOK_ELEMENT1 + z - 1;
}

void text_grammar_mask(const text_grammar *g, float *logits)
{
    int atom = (g->line - 2) / 2, element_line = g->line >= 2 && g->line % 2 == 0;
    int forced = -1;
    if (element_line && g->in_line == 0 && atom < g->n_atoms) forced = g->order[atom];
    /* the last atom's coordinate line: "c c c" is 5 tokens, then <eos> */
    if (!element_line && g->line >= 3 && atom == g->n_atoms - 1 && g->in_line == 5) forced = CB_TOK_EOS;
    for (int k = 0; k < CB_TOK_VOCAB; k++) {
        int special = k == CB_TOK_EOS || k >= CB_TOK_ELEMENT1;
        if (forced >= 0 ? k != forced : special) logits[k] = -INFINITY;
    }
}

void text_grammar_advance(text_grammar *g, int tok)
{
    if (tok == CB_TOK_NL) {
        g->line++;
        g->in_line = 0;
    } else {
        g->in_line++;
    }
}

static int sample_one(void *ctx, int k, size_t i, cb_error *err)
{
    sampler *s = ctx;
    text_model *m = s->m;
    const text_config *c = &m->cfg;
    slot *sl = &s->slots[k];
    const cb_crystal *target = s->targets ? &s->targets[i] : NULL;
    cb_rng rng;
    cb_rng_seed(&rng, s->seeds[i]);
    int ctx_len = c->gpt.ctx, n = 0, len = 0, rc = CB_OK;
    sl->tokens[n++] = CB_TOK_BOS;
    sl->tokens[n++] = target ? CB_TOK_CSP : CB_TOK_DNG;
    if (target) {
        rc = cb_text_composition(target, sl->tokens + n, ctx_len - n - 1, &len, err);
        if (rc) return rc;
        n += len;
    }
    sl->tokens[n++] = CB_TOK_SEP;
    int prompt = n;
    sl->kv.len = 0;
    for (int t = 0; t < n && !rc; t++) rc = cb_gpt_step(&m->gpt, m->gpt.p.ema, &sl->kv, sl->tokens[t], sl->logits, err);
    int ended = 0;
    text_grammar g = {0};
    if (target && c->constrained) text_grammar_start(&g, target);
    while (!rc && n < ctx_len) {
        if (target && c->constrained) text_grammar_mask(&g, sl->logits);
        int tok = text_pick(sl->logits, CB_TOK_VOCAB, c->temperature, c->top_p, &rng);
        if (target && c->constrained) text_grammar_advance(&g, tok);
        if (tok == CB_TOK_EOS) {
            ended = 1;
            break;
        }
        sl->tokens[n++] = tok;
        if (n < ctx_len) rc = cb_gpt_step(&m->gpt, m->gpt.p.ema, &sl->kv, tok, sl->logits, err);
    }
    if (rc) return rc;
    cb_crystal *out = &s->out[i];
    if (!ended) return placeholder(target, "no <eos> within the context", out, err);
    /* a special token inside the crystal is no text the parser could read */
    for (int t = prompt; t < n; t++)
        if (sl->tokens[t] < CB_TOK_NL) return placeholder(target, "a special token in the crystal", out, err);
    rc = cb_text_detokenize(sl->tokens + prompt, n - prompt, sl->text, (size_t)ctx_len * 8, err);
    if (rc) return rc;
    cb_error why;
    if (cb_text_parse(sl->text, (int)c->max_atoms, out, &why)) {
        const char *msg = strncmp(why.msg, "text: ", 6) == 0 ? why.msg + 6 : why.msg;
        return placeholder(target, msg, out, err);
    }
    if (target && !same_atoms(out, target)) {
        cb_crystal_free(out);
        return placeholder(target, "other atoms than the prompt's", out, err);
    }
    rc = cb_crystal_add_prop(out, CB_GENERATION_FAILURE, "", err);
    if (!rc && target && target->id) rc = cb_crystal_set_id(out, target->id, err);
    if (rc) cb_crystal_free(out);
    return rc;
}

int text_sample(text_model *m, const cb_crystal *targets, size_t n, cb_rng *rng, cb_crystal *out, cb_error *err)
{
    int workers = m->cfg.sample_threads < 1 ? 1 : (int)m->cfg.sample_threads;
    if ((size_t)workers > n) workers = n ? (int)n : 1;
    sampler s = {.m = m, .targets = targets, .out = out};
    uint64_t *seeds = malloc((n ? n : 1) * sizeof *seeds);
    s.slots = calloc((size_t)workers, sizeof *s.slots);
    int rc = seeds && s.slots ? CB_OK : cb_fail(err, CB_ERR_NOMEM, "text: out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        seeds[i] = cb_rng_u64(rng);
        out[i] = (cb_crystal){0};
    }
    s.seeds = seeds;
    for (int k = 0; !rc && k < workers; k++) {
        slot *sl = &s.slots[k];
        rc = cb_gpt_kv_alloc(&sl->kv, &m->cfg.gpt, err);
        sl->logits = malloc(CB_TOK_VOCAB * sizeof *sl->logits);
        sl->tokens = malloc((size_t)m->cfg.gpt.ctx * sizeof *sl->tokens);
        sl->text = malloc((size_t)m->cfg.gpt.ctx * 8);
        if (!rc && (!sl->logits || !sl->tokens || !sl->text)) rc = cb_fail(err, CB_ERR_NOMEM, "text: out of memory");
    }
    if (!rc) rc = cb_nn_for_slots(n, workers, sample_one, &s, err);
    if (rc)
        for (size_t i = 0; i < n; i++) cb_crystal_free(&out[i]);
    for (int k = 0; s.slots && k < workers; k++) {
        cb_gpt_kv_free(&s.slots[k].kv);
        free(s.slots[k].logits);
        free(s.slots[k].tokens);
        free(s.slots[k].text);
    }
    free(s.slots);
    free(seeds);
    return rc;
}
