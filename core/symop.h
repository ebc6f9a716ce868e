/* Private: crystallographic symmetry operations in Jones' faithful notation
 * ("x, y, z", "-y+1/2, x-y, z+0.25", "1/2+x, -z, 2y"), as CIF symmetry loops list them.
 * An operation maps fractional coordinates f to r·f + t. */
#ifndef CB_SYMOP_H
#define CB_SYMOP_H

#include <stddef.h>

typedef struct cb_symop {
    double r[3][3];
    double t[3];
} cb_symop;

/* Parses s[0..len).  Spaces are ignored and x/y/z may be upper case; each of the three
 * comma-separated components is a signed sum of terms "x", "2y", "1/2", "0.25", "-1/3z".
 * The rotation must be an integer matrix with determinant ±1.  Returns 0, or -1 with
 * a short reason in why (no line break). */
int cb_symop_parse(const char *s, size_t len, cb_symop *op, char *why, size_t why_cap);

/* out = r·f + t, summed left to right as numpy's affine dot does. */
void cb_symop_apply(const cb_symop *op, const double f[3], double out[3]);

int cb_symop_is_identity(const cb_symop *op);

#endif
