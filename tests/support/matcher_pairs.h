/* Reader and printer for the structure-pair files of tests/py/matcher_pairs.py (format in
 * that script's docstring): pairs of crystals with pymatgen's get_rms_dist and fit
 * verdicts.  Used by tests/test_matcher_diff.c (generated pairs and the regression list
 * tests/data/matcher_regressions.txt) and by bench/matcher.c, which links only the
 * library; hence header-only (static inline, so an unused function is no warning). */
#ifndef CB_MATCHER_PAIRS_H
#define CB_MATCHER_PAIRS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystalbench/crystal.h"

typedef struct mp_pair {
    long id;
    char family[32];
    char prov[256];      /* provenance: dataset, material ids, what was done */
    cb_crystal s[2];     /* s[0] = s1 (prediction), s[1] = s2 (target) */
    int py_error;        /* pymatgen raised; py_message says what */
    char py_message[256];
    int py_matched;      /* get_rms_dist returned a value */
    double py_rms, py_max;
    int py_fit;
    double py_t_rms, py_t_fit; /* pymatgen's seconds for the two calls (0 when unknown) */
    int line;            /* line of the "pair" header, for messages */
} mp_pair;

typedef struct mp_pairs {
    mp_pair *v;
    size_t n;
    int complete;        /* the file ended with "END ..." */
} mp_pairs;

static inline void mp_pairs_free(mp_pairs *p)
{
    for (size_t i = 0; i < p->n; i++) {
        cb_crystal_free(&p->v[i].s[0]);
        cb_crystal_free(&p->v[i].s[1]);
    }
    free(p->v);
    memset(p, 0, sizeof *p);
}

/* The next line that is neither blank nor a '#' comment, without its newline; NULL at EOF. */
static inline char *mp_next_line(FILE *f, char **buf, size_t *cap, int *lineno)
{
    while (getline(buf, cap, f) > 0) {
        (*lineno)++;
        char *s = *buf;
        s[strcspn(s, "\r\n")] = 0;
        while (*s == ' ' || *s == '\t') s++;
        if (*s && *s != '#') return s;
    }
    return NULL;
}

/* "sK n", three lattice rows, n lines "Z x y z". */
static inline int mp_read_struct(FILE *f, char **buf, size_t *cap, int *lineno, const char *tag, cb_crystal *c)
{
    char *s = mp_next_line(f, buf, cap, lineno);
    int n = 0;
    size_t tl = strlen(tag);
    if (!s || strncmp(s, tag, tl) != 0 || sscanf(s + tl, "%d", &n) != 1 || n < 1 || n > 100000) return -1;
    cb_error err;
    if (cb_crystal_alloc(c, n, &err) != CB_OK) return -1;
    for (int r = 0; r < 3; r++) {
        s = mp_next_line(f, buf, cap, lineno);
        if (!s || sscanf(s, "%lf %lf %lf", &c->lattice[r][0], &c->lattice[r][1], &c->lattice[r][2]) != 3)
            return -1;
    }
    for (int i = 0; i < n; i++) {
        s = mp_next_line(f, buf, cap, lineno);
        if (!s || sscanf(s, "%d %lf %lf %lf", &c->z[i], &c->frac[i][0], &c->frac[i][1], &c->frac[i][2]) != 4)
            return -1;
    }
    return 0;
}

/* Loads every pair; on a malformed file returns -1 with the line in why. */
static inline int mp_pairs_load(const char *path, mp_pairs *out, char *why, size_t why_cap)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, why_cap, "%s: cannot open", path);
        return -1;
    }
    char *buf = NULL, *s;
    size_t cap = 0, vcap = 0;
    int lineno = 0, bad = 0;
    while (!bad && (s = mp_next_line(f, &buf, &cap, &lineno))) {
        if (strncmp(s, "END", 3) == 0) {
            out->complete = 1;
            break;
        }
        if (out->n == vcap) {
            vcap = vcap ? 2 * vcap : 1024;
            mp_pair *nv = realloc(out->v, vcap * sizeof *nv);
            if (!nv) {
                bad = 1;
                break;
            }
            out->v = nv;
        }
        mp_pair *p = &out->v[out->n];
        memset(p, 0, sizeof *p);
        p->line = lineno;
        if (sscanf(s, "pair %ld %31s %255s", &p->id, p->family, p->prov) < 2) {
            bad = 1;
            break;
        }
        out->n++; /* from here on the pair owns its crystals (freed by mp_pairs_free) */
        if (mp_read_struct(f, &buf, &cap, &lineno, "s1", &p->s[0]) ||
            mp_read_struct(f, &buf, &cap, &lineno, "s2", &p->s[1])) {
            bad = 1;
            break;
        }
        /* rms / fit / optional time, then "end" */
        for (;;) {
            s = mp_next_line(f, &buf, &cap, &lineno);
            if (!s) {
                bad = 1;
                break;
            }
            if (strcmp(s, "end") == 0) break;
            char a[64] = "", b[64] = "";
            if (strncmp(s, "rms ERROR", 9) == 0) {
                p->py_error = 1;
                snprintf(p->py_message, sizeof p->py_message, "%s", s + 9 + (s[9] == ' '));
            } else if (sscanf(s, "rms %63s %63s", a, b) == 2) {
                p->py_matched = strcmp(a, "None") != 0;
                p->py_rms = p->py_matched ? strtod(a, NULL) : 0.0;
                p->py_max = p->py_matched ? strtod(b, NULL) : 0.0;
            } else if (sscanf(s, "fit %63s", a) == 1) {
                p->py_fit = strcmp(a, "True") == 0;
            } else if (sscanf(s, "time %lf %lf", &p->py_t_rms, &p->py_t_fit) == 2) {
            } else {
                bad = 1;
                break;
            }
        }
    }
    free(buf);
    fclose(f);
    if (bad) {
        snprintf(why, why_cap, "%s: line %d: malformed pair file", path, lineno);
        mp_pairs_free(out);
        return -1;
    }
    return 0;
}

/* One structure in the file's own format (so a printed pair can be pasted into the
 * regression list); %.17g round-trips every double. */
static inline void mp_print_struct(FILE *out, const char *tag, const cb_crystal *c)
{
    fprintf(out, "%s %d\n", tag, c->n);
    for (int r = 0; r < 3; r++)
        fprintf(out, "%.17g %.17g %.17g\n", c->lattice[r][0], c->lattice[r][1], c->lattice[r][2]);
    for (int i = 0; i < c->n; i++)
        fprintf(out, "%d %.17g %.17g %.17g\n", c->z[i], c->frac[i][0], c->frac[i][1], c->frac[i][2]);
}

/* A whole pair with pymatgen's verdict, in the file format. */
static inline void mp_print_pair(FILE *out, const mp_pair *p)
{
    fprintf(out, "pair %ld %s %s\n", p->id, p->family, p->prov[0] ? p->prov : "-");
    mp_print_struct(out, "s1", &p->s[0]);
    mp_print_struct(out, "s2", &p->s[1]);
    if (p->py_error) {
        fprintf(out, "rms ERROR %s\nfit ERROR\n", p->py_message);
    } else {
        if (p->py_matched)
            fprintf(out, "rms %.17g %.17g\n", p->py_rms, p->py_max);
        else
            fprintf(out, "rms None None\n");
        fprintf(out, "fit %s\n", p->py_fit ? "True" : "False");
    }
    fprintf(out, "end\n");
}

#endif
