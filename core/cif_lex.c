/* CIF 1.1 tokenizer (syntax: IUCr "CIF 1.1 syntax specification", paragraphs 2-20).
 * One pass over the bytes, no allocation; see cif_internal.h for the rules. */
#include "cif_internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *src_name(const cif_lexer *lx) { return lx->source ? lx->source : "<cif>"; }

void cif_lex_init(cif_lexer *lx, const char *text, size_t len, const char *source)
{
    lx->start = text;
    lx->p = text;
    lx->end = text + len;
    lx->line = 1;
    lx->source = source;
}

static int bad_byte(cif_lexer *lx, unsigned char c, cb_error *err)
{
    return cb_fail(err, CB_ERR_PARSE, "%s: line %d: control character 0x%02x (binary data, not a CIF text file)",
                   src_name(lx), lx->line, c);
}

/* Bytes >= 0x80 are accepted inside tokens: CIF 1.1 is ASCII, but UTF-8 author names
 * in text fields are common and harmless. */
static int is_ctrl(unsigned char c) { return (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f; }

static int at_line_start(const cif_lexer *lx, const char *p)
{
    return p == lx->start || p[-1] == '\n' || p[-1] == '\r';
}

static int reserved(const char *p, size_t n, const char *word)
{
    size_t k = strlen(word);
    return n >= k && strncasecmp(p, word, k) == 0;
}

static void classify_word(cif_tok *t)
{
    const char *p = t->p;
    size_t n = t->len;
    t->kind = CIF_TOK_WORD;
    switch (p[0]) {
    case '_':
        t->kind = CIF_TOK_TAG;
        return;
    case 'd':
    case 'D':
        if (reserved(p, n, "data_")) {
            t->kind = CIF_TOK_DATA;
            t->p += 5;
            t->len -= 5;
        }
        return;
    case 'l':
    case 'L':
        if (n == 5 && reserved(p, n, "loop_")) t->kind = CIF_TOK_LOOP;
        return;
    case 'g':
    case 'G':
        if (n == 7 && reserved(p, n, "global_")) t->kind = CIF_TOK_GLOBAL;
        return;
    case 's':
    case 'S':
        if (reserved(p, n, "save_")) {
            t->kind = CIF_TOK_SAVE;
            t->p += 5;
            t->len -= 5;
        } else if (n == 5 && reserved(p, n, "stop_")) {
            t->kind = CIF_TOK_STOP;
        }
        return;
    default:
        return;
    }
}

static int lex_quoted(cif_lexer *lx, cif_tok *t, cb_error *err)
{
    const char *p = lx->p;
    char q = *p++;
    const char *body = p;
    for (; p < lx->end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == (unsigned char)q &&
            (p + 1 == lx->end || p[1] == ' ' || p[1] == '\t' || p[1] == '\n' || p[1] == '\r')) {
            t->p = body;
            t->len = (unsigned)(p - body);
            t->kind = CIF_TOK_STRING;
            lx->p = p + 1;
            return 0;
        }
        if (c == '\n' || c == '\r') break;
        if (is_ctrl(c)) return bad_byte(lx, c, err);
    }
    return cb_fail(err, CB_ERR_PARSE, "%s: line %d: unterminated quoted string (no closing %c on this line)",
                   src_name(lx), lx->line, q);
}

/* The text field opened by the ';' at lx->p (first column). */
static int lex_text_field(cif_lexer *lx, cif_tok *t, cb_error *err)
{
    const char *body = lx->p + 1;
    int first_line = lx->line;
    for (const char *p = body; p < lx->end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '\n') {
            lx->line++;
            if (p + 1 < lx->end && p[1] == ';') {
                const char *e = p;
                if (e > body && e[-1] == '\r') e--;
                t->p = body;
                t->len = (unsigned)(e - body);
                t->kind = CIF_TOK_STRING;
                lx->p = p + 2;
                return 0;
            }
        } else if (is_ctrl(c)) {
            return bad_byte(lx, c, err);
        }
    }
    return cb_fail(err, CB_ERR_PARSE, "%s: line %d: unterminated text field (no line starting with ';' closes it)",
                   src_name(lx), first_line);
}

int cif_lex_next(cif_lexer *lx, cif_tok *t, cb_error *err)
{
    const char *p = lx->p, *end = lx->end;
    for (;;) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
            if (*p == '\n') lx->line++;
            p++;
        }
        if (p < end && *p == '#') {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            p = nl ? nl : end;
            continue;
        }
        break;
    }
    lx->p = p;
    t->line = lx->line;
    if (p == end) {
        t->p = p;
        t->len = 0;
        t->kind = CIF_TOK_EOF;
        return 0;
    }
    unsigned char c = (unsigned char)*p;
    if (c == '\'' || c == '"') return lex_quoted(lx, t, err);
    if (c == ';' && at_line_start(lx, p)) return lex_text_field(lx, t, err);
    const char *s = p;
    while (p < end && (unsigned char)*p > ' ' && *p != 0x7f) p++;
    if (p == s || (p < end && is_ctrl((unsigned char)*p))) return bad_byte(lx, (unsigned char)*p, err);
    t->p = s;
    t->len = (unsigned)(p - s);
    lx->p = p;
    classify_word(t);
    return 0;
}

const char *cif_tok_show(const cif_tok *t, char *buf, size_t cap)
{
    if (cap < 8) {
        if (cap) buf[0] = '\0';
        return buf;
    }
    size_t n = t->len, max = cap - 1 < 40 ? cap - 1 : 40;
    int cut = n > max;
    if (cut) n = max - 3;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t->p[i];
        buf[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (cut) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
    return buf;
}
