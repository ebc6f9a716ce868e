/* Crystals as text, for the autoregressive backend (models.md §5.1–§5.2).
 *
 * The crystal string is the reference's (crystal-text-llm's get_crystal_string):
 *     a b c            lengths, "%.1f" each, one space between
 *     α β γ            angles as integers (rounded; truncated with angle_trunc, as the
 *                      reference's int() does)
 *     El               then, per atom, its element symbol on a line
 *     x y z            and its fractional coordinates, "%.2f" each
 * lines joined by "\n", no trailing newline.  Atoms are written in ascending Z (stable:
 * the original order within an element), which lets the CSP prompt list the elements in
 * the same order.
 *
 * Tokens (fixed vocabulary, no BPE, models.md §5.2 "coord mode"): the special tokens,
 * "\n", " ", ".", "-", the ten digits, one token per coordinate "0.00" … "1.00", and one
 * per element Z = 1..100.  Lattice numbers are spelled digit by digit; a coordinate line
 * is c ' ' c ' ' c.  Sequences:
 *     DNG:  <bos> <dng> <sep> CRYSTAL <eos>
 *     CSP:  <bos> <csp> El count ' ' El count … <sep> CRYSTAL <eos>
 * (counts: the cell's, spelled in digits; elements in ascending Z). */
#ifndef CB_TEXT_CRYSTAL_TEXT_H
#define CB_TEXT_CRYSTAL_TEXT_H

#include <stddef.h>

#include "crystalbench/crystal.h"
#include "crystalbench/error.h"

enum {
    CB_TOK_PAD = 0,
    CB_TOK_BOS = 1,
    CB_TOK_EOS = 2,
    CB_TOK_DNG = 3,
    CB_TOK_CSP = 4,
    CB_TOK_SEP = 5,
    CB_TOK_NL = 6,
    CB_TOK_SPACE = 7,
    CB_TOK_DOT = 8,
    CB_TOK_MINUS = 9,
    CB_TOK_DIGIT0 = 10,  /* "0" … "9" */
    CB_TOK_COORD0 = 20,  /* "0.00" … "1.00" (101) */
    CB_TOK_ELEMENT1 = 121, /* Z = 1 … 100 */
    CB_TOK_VOCAB = 221
};
#define CB_TEXT_MAX_Z 100

/* The text of a token ("" for the special ones). */
const char *cb_text_token(int tok);

/* The crystal string of c (its cell as given, coordinates wrapped into [0, 1)) into
 * out (NUL-terminated).  CB_ERR_USAGE when it does not fit in cap, or an element is
 * beyond Z = 100. */
int cb_text_write(const cb_crystal *c, int angle_trunc, char *out, size_t cap, cb_error *err);

/* The tokens of c's crystal string (no special tokens) into out[0..*n).  Errors as
 * cb_text_write. */
int cb_text_encode(const cb_crystal *c, int angle_trunc, int *out, int cap, int *n, cb_error *err);

/* The CSP prompt's composition tokens (between <csp> and <sep>) of c. */
int cb_text_composition(const cb_crystal *c, int *out, int cap, int *n, cb_error *err);

/* The text of tokens[0..n) (special tokens contribute nothing) into out. */
int cb_text_detokenize(const int *tokens, int n, char *out, size_t cap, cb_error *err);

/* Parses a crystal string as the reference's parse_fn, plus models.md §5.5's checks:
 * CB_ERR_INVALID, with the reason, when line 1 does not hold 3 positive numbers, line 2
 * 3 numbers in (0, 180), an element line no known symbol (Z ≤ 100), a coordinate line
 * not 3 numbers, the element and coordinate lines do not pair up, there are no atoms or
 * more than max_atoms, the cell is degenerate (no real angle between the vectors, a
 * volume below 0.1 Å³, or a non-finite value), or two atoms coincide (closer than 1e-3
 * Å: the reference's CIF round trip fails on them).  Coordinates are wrapped into [0, 1). */
int cb_text_parse(const char *text, int max_atoms, cb_crystal *out, cb_error *err);

/* c's atoms sorted by ascending Z (stable): the order the string is written in.
 * *out must not own memory. */
int cb_text_sorted(const cb_crystal *c, cb_crystal *out, cb_error *err);

#endif
