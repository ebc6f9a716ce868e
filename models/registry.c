/* The list of backends.  Adding one: declare its ops here and add it to the table. */
#include <string.h>

#include "crystalbench/model.h"

extern const cb_model_ops cb_model_example;
extern const cb_model_ops cb_model_external;
extern const cb_model_ops cb_model_flowmm;
extern const cb_model_ops cb_model_cdvae;
extern const cb_model_ops cb_model_text;

static const cb_model_ops *const backends[] = {
    &cb_model_external,
    &cb_model_example,
    &cb_model_flowmm,
    &cb_model_cdvae,
    &cb_model_text,
};

size_t cb_model_count(void) { return sizeof backends / sizeof backends[0]; }

const cb_model_ops *cb_model_at(size_t i) { return i < cb_model_count() ? backends[i] : NULL; }

const cb_model_ops *cb_model_find(const char *name)
{
    for (size_t i = 0; i < cb_model_count(); i++)
        if (strcmp(backends[i]->name, name) == 0) return backends[i];
    return NULL;
}
