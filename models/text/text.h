/* The autoregressive text backend (models.md §5): a small GPT trained from scratch on
 * crystal strings — the CPU-sized stand-in for crystal-text-llm's fine-tuned LLaMA-2.
 * Private to models/text/.
 *
 *   crystal_text.c   the string, its tokens, CSP prompts, parsing
 *   text_config.c    configuration keys, defaults and the config hash
 *   text_train.c     sequences (augmented per step) and the epochs
 *   text_sample.c    temperature and top-p sampling with a KV cache, parsing
 *   text_backend.c   the cb_model_ops vtable, checkpoints
 *
 * One model serves both tasks, as the reference's does: it trains on a mix of DNG and
 * CSP sequences (csp_fraction), and a state created for either task samples that task.
 * A generated text that does not parse is never resampled: it becomes a placeholder
 * that no metric accepts, marked CB_GENERATION_FAILURE (crystal.h), so the parse failures
 * are counted from the samples themselves (harness/score.c: parse_rate). */
#ifndef CB_TEXT_H
#define CB_TEXT_H

#include <stdint.h>

#include "crystalbench/config.h"
#include "crystalbench/model.h"
#include "../nn/epochs.h"
#include "../nn/gpt.h"
#include "crystal_text.h"

#define TEXT_NAME "text"
enum { TEXT_STREAM_INIT = 1, TEXT_STREAM_TRAIN = 3, TEXT_STREAM_VAL = 4, TEXT_STREAM_EPOCH = 1000 };

typedef struct text_config {
    unsigned task;
    cb_gpt_config gpt;      /* vocab = CB_TOK_VOCAB */
    int angle_trunc;        /* 1: angles truncated as the reference's int(); 0: rounded */
    int raw_cell;           /* 1: the cell as the CSV gives it (reference); 0: Niggli, canonical */
    int translate;          /* a random translation of every training crystal, per step */
    double csp_fraction;    /* share of CSP sequences in training */
    long batch, epochs, warmup;
    double lr, lr_min, weight_decay, beta2, clip, ema_decay;
    long val_every, val_max;
    double temperature, top_p;
    int constrained;        /* CSP: element lines and <eos> forced by the prompt's composition */
    long max_atoms;         /* parsed samples with more atoms are unparseable */
    long sample_threads;
    uint64_t seed;
} text_config;

int text_config_read(const cb_config *cfg, unsigned task, text_config *out, cb_error *err);
void text_config_hash(const text_config *c, char hex[CB_SHA256_HEX]);

typedef struct text_model {
    text_config cfg;
    cb_gpt gpt;
    char config_hash[CB_SHA256_HEX];
    int trained;          /* trained or loaded: sampling may start */
    int done;
    cb_nn_epoch_state at;
    cb_rng rng;
    cb_gpt_acts acts;
} text_model;

int text_train(text_model *m, const cb_dataset *train, const cb_dataset *val, const cb_train_ctx *ctx, cb_error *err);

/* The crystal as the model reads it: preprocessed (or raw), its tokens with a random
 * translation drawn from rng when translate (NULL rng: none), for task.  *n tokens,
 * including <bos> … <eos>; *prompt is the index of <sep>. */
int text_sequence(const text_config *c, const cb_crystal *crystal, unsigned task, cb_rng *rng, int *tokens, int cap,
                  int *n, int *prompt, cb_error *err);

int text_sample(text_model *m, const cb_crystal *targets, size_t n, cb_rng *rng, cb_crystal *out, cb_error *err);

/* Constrained CSP decoding (models.md §5.5, `constrained = 1`): the element lines follow
 * the prompt's composition (ascending Z, exact counts) and <eos> comes right after the
 * last atom's third coordinate; element tokens and <eos> are masked everywhere else.
 * Lines are counted by "\n": 0 lengths, 1 angles, then element and coordinate lines.
 * start → (mask the logits, pick a token, advance)… */
typedef struct text_grammar {
    int order[CB_TEXT_MAX_Z + 100]; /* the element tokens the atoms must carry, in order */
    int n_atoms, line, in_line;     /* atoms to write; the current line and its tokens so far */
} text_grammar;

void text_grammar_start(text_grammar *g, const cb_crystal *target);
void text_grammar_mask(const text_grammar *g, float *logits);
void text_grammar_advance(text_grammar *g, int tok);

/* Samples a token from logits[V] at temperature t with nucleus p (models.md §5.5: divide
 * by t, softmax, keep the smallest most-likely prefix whose mass reaches p, renormalise). */
int text_pick(const float *logits, int V, double temperature, double top_p, cb_rng *rng);

#endif
