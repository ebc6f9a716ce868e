/* Private to the CIF reader: the CIF 1.1 tokenizer (core/cif_lex.c) and the data-block
 * model that the parser (core/cif.c) fills and core/cif_build.c turns into crystals.
 *
 * Tokens point into the caller's text (no copies, no allocation), so the text must
 * outlive them.  The lexer follows the CIF 1.1 syntax rules, not a line-based
 * approximation:
 *   - '#' starts a comment only where a token could start;
 *   - a quoted string ('...' or "...") ends at the same quote character followed by
 *     whitespace or the end of the text, and never spans a line ("it's" needs no escape);
 *   - ';' in the first column opens a text field that ends at the next line starting
 *     with ';' (the value excludes both delimiters and the final line break);
 *   - data_, loop_, global_, save_ and stop_ are reserved words, case-insensitive;
 *   - control characters other than tab, CR and LF are rejected (binary input). */
#ifndef CB_CIF_INTERNAL_H
#define CB_CIF_INTERNAL_H

#include <stddef.h>

#include "crystalbench/cif.h"
#include "crystalbench/error.h"

typedef enum cif_tok_kind {
    CIF_TOK_EOF = 0,
    CIF_TOK_DATA,   /* data_NAME; text = NAME (may be empty) */
    CIF_TOK_LOOP,   /* loop_ */
    CIF_TOK_GLOBAL, /* global_ */
    CIF_TOK_SAVE,   /* save_NAME opens a frame; text empty = bare save_, which closes it */
    CIF_TOK_STOP,   /* stop_ (STAR nested loops; not used by CIF 1.1) */
    CIF_TOK_TAG,    /* _name, text includes the underscore */
    CIF_TOK_WORD,   /* unquoted value; "?" and "." mean unknown / inapplicable */
    CIF_TOK_STRING  /* quoted string or text field: always literal text */
} cif_tok_kind;

typedef struct cif_tok {
    const char *p;
    unsigned len;
    int line; /* 1-based line where the token starts */
    int kind; /* cif_tok_kind */
} cif_tok;

typedef struct cif_lexer {
    const char *start, *p, *end;
    int line;
    const char *source; /* for error messages */
} cif_lexer;

void cif_lex_init(cif_lexer *lx, const char *text, size_t len, const char *source);
/* Reads the next token (CIF_TOK_EOF at the end).  Returns 0, or CB_ERR_PARSE with a
 * one-line message "<source>: line N: ..." for an unterminated quote or text field or
 * a control character. */
int cif_lex_next(cif_lexer *lx, cif_tok *t, cb_error *err);

/* A printable excerpt of a token for error messages: at most ~40 characters, control
 * characters and line breaks replaced by '?', so a message stays on one line. */
const char *cif_tok_show(const cif_tok *t, char *buf, size_t cap);

/* ---- data blocks (cif.c) and their conversion to crystals (cif_build.c) ---- */

enum cif_field_id {
    F_CELL_A,
    F_CELL_B,
    F_CELL_C,
    F_CELL_ALPHA,
    F_CELL_BETA,
    F_CELL_GAMMA,
    F_FRACT_X,
    F_FRACT_Y,
    F_FRACT_Z,
    F_CARTN_X,
    F_CARTN_Y,
    F_CARTN_Z,
    F_TYPE_SYMBOL,
    F_LABEL,
    F_OCCUPANCY,
    F_SYMOP_1,
    F_SYMOP_2, /* _symmetry_equiv_pos_as_xyz, _space_group_symop_operation_xyz */
    F_SG_HM_1,
    F_SG_HM_2,
    F_SG_HALL_1,
    F_SG_HALL_2,
    F_SG_NUM_1,
    F_SG_NUM_2,
    F_COUNT
};

/* Values of one item: tokens first, first + stride, ... (count of them) in the block's
 * token array.  count == 0: absent.  loop: 0 for a single item, else the loop's number
 * in the block, so columns of different loops are not mixed up. */
typedef struct cif_field {
    int first, stride, count, loop, line;
} cif_field;

typedef struct cif_block {
    cif_tok name; /* data_ name */
    int line;     /* of the data_ line */
    int nloops;
    cif_field f[F_COUNT];
    const cif_tok *tok; /* the values the fields index */
} cif_block;

typedef struct cif_ctx {
    const char *src; /* for messages; NULL reads "<cif>" */
    const cb_cif_options *opt;
    cb_error *err;
} cif_ctx;

/* A field's tag as messages show it (lower case). */
const char *cif_field_name(int id);

/* The crystal of a block that holds atom sites (fract_x or Cartn_x present).  On error
 * *out owns nothing. */
int cif_build_crystal(const cif_ctx *cx, const cif_block *b, cb_crystal *out);

#endif
