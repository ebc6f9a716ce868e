/* Element symbols <-> atomic numbers.  Lookup is one table read: the generator writes
 * cb_element_symbol_index (core/elements_table.c), a 26 x 27 map from the normalised
 * symbol (upper-case first letter, optional lower-case second letter) to Z. */
#include "crystalbench/elements.h"

/* Defined in the generated core/elements_table.c. */
extern const unsigned char cb_element_symbol_index[26 * 27];

static int upper(int c) { return c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c; }
static int lower(int c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; }

int cb_element_from_symbol(const char *symbol)
{
    if (!symbol || !symbol[0]) return 0;
    int c0 = upper((unsigned char)symbol[0]);
    if (c0 < 'A' || c0 > 'Z') return 0;
    int slot = 27 * (c0 - 'A');
    if (symbol[1]) {
        int c1 = lower((unsigned char)symbol[1]);
        if (c1 < 'a' || c1 > 'z' || symbol[2]) return 0;
        slot += c1 - 'a' + 1;
    }
    return cb_element_symbol_index[slot];
}

const char *cb_element_symbol(int z)
{
    return z >= 1 && z <= CB_MAX_Z ? cb_elements[z].symbol : "X";
}
