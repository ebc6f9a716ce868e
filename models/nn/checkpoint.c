/* Checkpoint files (layout in train.h): a fixed little-endian header, the four parameter
 * buffers as raw little-endian float32, the model's extra bytes and a CRC-32 (zlib's).
 * Written through cb_atomic_file (tmp + rename).  A load reads and checks the whole file
 * before it changes anything, and reports every defect as one line: a corrupt or foreign
 * file must never crash training, nor half-load into a model. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <zlib.h>

#include "crystalbench/atomic_file.h"
#include "crystalbench/le_bytes.h"
#include "train.h"

#define HDR_LEN 272
#define HDR_LEN_V1 264 /* version 1: no flags word, always the full state */
#define CRC_LEN 4
#define MAGIC "CBNNCKPT" /* 8 bytes, no NUL in the file */

/* Header field offsets (train.h). */
enum {
    OFF_MAGIC = 0, OFF_VERSION = 8, OFF_HDRLEN = 12, OFF_BACKEND = 16, OFF_CONFIG = 48,
    OFF_LAYOUT = 112, OFF_COUNT = 176, OFF_STEP = 184, OFF_ADAM = 192, OFF_EMA = 200,
    OFF_RNG = 208, OFF_SPARE = 240, OFF_HAS_SPARE = 248, OFF_EXTRA = 256, OFF_FLAGS = 264
};
#define FLAG_WEIGHTS_ONLY 1u

/* zlib's crc32 takes a 32-bit length: feed large buffers in pieces. */
static uLong crc_update(uLong crc, const unsigned char *b, size_t n)
{
    while (n > 0) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = crc32(crc, b, k);
        b += k;
        n -= k;
    }
    return crc;
}

static int valid_backend(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= CB_NN_BACKEND_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e) return 0;
    return 1;
}

static int valid_hash(const char *s)
{
    size_t n = strlen(s);
    if (n != 64) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

/* ---- save -------------------------------------------------------------------------- */

typedef struct writer {
    FILE *f;
    uLong crc;
    int bad;
} writer;

static void put_bytes(writer *w, const void *b, size_t n)
{
    if (w->bad || n == 0) return;
    w->crc = crc_update(w->crc, b, n);
    if (fwrite(b, 1, n, w->f) != n) w->bad = 1;
}

static void put_floats(writer *w, const float *x, size_t n)
{
    unsigned char chunk[4 * 4096];
    for (size_t i = 0; i < n;) {
        size_t k = n - i < 4096 ? n - i : 4096;
        for (size_t j = 0; j < k; j++) {
            uint32_t bits;
            memcpy(&bits, &x[i + j], 4);
            cb_put_u32(chunk + 4 * j, bits);
        }
        put_bytes(w, chunk, 4 * k);
        i += k;
    }
}

int cb_nn_checkpoint_save(const char *path, const char *backend, const char *config_hash,
                          const cb_nn_params *p, const cb_nn_ckpt_state *st, cb_error *err)
{
    if (!valid_backend(backend))
        return cb_fail(err, CB_ERR_USAGE, "%s: bad backend name '%s' (1 to %d printable characters)",
                       path, backend, CB_NN_BACKEND_MAX - 1);
    if (!valid_hash(config_hash))
        return cb_fail(err, CB_ERR_USAGE, "%s: config hash '%s' is not 64 lowercase hex digits",
                       path, config_hash);
    if (!p->w) return cb_fail(err, CB_ERR_USAGE, "%s: parameter set not allocated", path);
    if (st->extra_len && !st->extra)
        return cb_fail(err, CB_ERR_USAGE, "%s: extra bytes announced but missing", path);

    unsigned char h[HDR_LEN];
    memset(h, 0, sizeof h);
    memcpy(h + OFF_MAGIC, MAGIC, 8);
    cb_put_u32(h + OFF_VERSION, CB_NN_CKPT_VERSION);
    cb_put_u32(h + OFF_HDRLEN, HDR_LEN);
    memcpy(h + OFF_BACKEND, backend, strlen(backend));
    memcpy(h + OFF_CONFIG, config_hash, 64);
    char layout[CB_SHA256_HEX];
    cb_nn_params_layout_hash(p, layout);
    memcpy(h + OFF_LAYOUT, layout, 64);
    cb_put_u64(h + OFF_COUNT, (uint64_t)p->count);
    cb_put_u64(h + OFF_STEP, st->step);
    cb_put_u64(h + OFF_ADAM, p->adam_steps);
    cb_put_u64(h + OFF_EMA, p->ema_updates);
    for (int i = 0; i < 4; i++) cb_put_u64(h + OFF_RNG + 8 * i, st->rng.s[i]);
    uint64_t spare;
    memcpy(&spare, &st->rng.spare, 8);
    cb_put_u64(h + OFF_SPARE, spare);
    cb_put_u64(h + OFF_HAS_SPARE, st->rng.has_spare ? 1 : 0);
    cb_put_u64(h + OFF_EXTRA, (uint64_t)st->extra_len);
    cb_put_u64(h + OFF_FLAGS, st->weights_only ? FLAG_WEIGHTS_ONLY : 0);

    cb_atomic_file a;
    int rc = cb_atomic_open(&a, path, err);
    if (rc) return rc;
    errno = 0; /* so a failed fwrite's message is its own */
    writer w = {a.f, crc32(0L, Z_NULL, 0), 0};
    put_bytes(&w, h, HDR_LEN);
    if (!st->weights_only) {
        put_floats(&w, p->w, p->count);
        put_floats(&w, p->m, p->count);
        put_floats(&w, p->v, p->count);
    }
    put_floats(&w, p->ema, p->count);
    put_bytes(&w, st->extra, st->extra_len);
    unsigned char tail[CRC_LEN];
    cb_put_u32(tail, (uint32_t)w.crc);
    if (!w.bad && fwrite(tail, 1, CRC_LEN, a.f) != CRC_LEN) w.bad = 1;
    if (w.bad) {
        int e = errno;
        cb_atomic_abort(&a);
        return cb_fail(err, CB_ERR_IO, "%s: cannot write: %s", path, e ? strerror(e) : "write failed");
    }
    return cb_atomic_commit(&a, err);
}

/* ---- load -------------------------------------------------------------------------- */

static void get_floats(float *x, const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t bits = cb_get_u32(b + 4 * i);
        memcpy(&x[i], &bits, 4);
    }
}

/* A header text field for a message: up to its first NUL, non-printables as '?'. */
static void field_text(char *out, const unsigned char *b, size_t n)
{
    size_t i = 0;
    for (; i < n && b[i]; i++) out[i] = (b[i] >= 0x20 && b[i] < 0x7f) ? (char)b[i] : '?';
    out[i] = '\0';
}

/* Reads the whole file into a malloc'd buffer after checking the header's own account of
 * the size; *buf holds fsize bytes (header included). */
static int read_checked(const char *path, unsigned char **buf, size_t *len, cb_error *err)
{
    *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return cb_fail(err, CB_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    off_t fsize = -1;
    if (fseeko(f, 0, SEEK_END) == 0) fsize = ftello(f);
    if (fsize < 0 || fseeko(f, 0, SEEK_SET) != 0) {
        int e = errno;
        fclose(f);
        return cb_fail(err, CB_ERR_IO, "%s: cannot read: %s", path, strerror(e));
    }
    unsigned char h[HDR_LEN];
    size_t hn = (uint64_t)fsize < HDR_LEN ? (size_t)fsize : HDR_LEN;
    int rc = CB_OK;
    if (fread(h, 1, hn, f) != hn) {
        rc = cb_fail(err, CB_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    } else if (hn >= 8 && memcmp(h, MAGIC, 8) != 0) {
        rc = cb_fail(err, CB_ERR_INVALID, "%s: not a crystalbench checkpoint (bad magic)", path);
    } else if ((uint64_t)fsize < HDR_LEN + CRC_LEN) {
        rc = cb_fail(err, CB_ERR_INVALID, "%s: truncated checkpoint (%lld bytes, less than a header)",
                     path, (long long)fsize);
    } else if (!((cb_get_u32(h + OFF_VERSION) == CB_NN_CKPT_VERSION && cb_get_u32(h + OFF_HDRLEN) == HDR_LEN) ||
                 (cb_get_u32(h + OFF_VERSION) == 1 && cb_get_u32(h + OFF_HDRLEN) == HDR_LEN_V1))) {
        rc = cb_fail(err, CB_ERR_INVALID,
                     "%s: checkpoint format version %u (header %u bytes); this build reads versions 1 and %d",
                     path, (unsigned)cb_get_u32(h + OFF_VERSION), (unsigned)cb_get_u32(h + OFF_HDRLEN),
                     CB_NN_CKPT_VERSION);
    } else {
        /* Size announced by the header: 272 + 16n (4n weights only) + extra + 4, compared
         * without overflow. */
        uint64_t hdr = cb_get_u32(h + OFF_HDRLEN);
        uint64_t size = (uint64_t)fsize, n = cb_get_u64(h + OFF_COUNT), extra = cb_get_u64(h + OFF_EXTRA);
        uint64_t room = size - hdr - CRC_LEN, flags = hdr == HDR_LEN ? cb_get_u64(h + OFF_FLAGS) : 0;
        uint64_t per = flags & FLAG_WEIGHTS_ONLY ? 4 : 16;
        if (flags & ~(uint64_t)FLAG_WEIGHTS_ONLY)
            rc = cb_fail(err, CB_ERR_INVALID, "%s: corrupt checkpoint (unknown flags %llx)", path,
                         (unsigned long long)flags);
        else if (n > room / per || extra > room - per * n)
            rc = cb_fail(err, CB_ERR_INVALID,
                         "%s: truncated checkpoint (%llu bytes; the header announces %llu parameters "
                         "and %llu extra bytes)", path, (unsigned long long)size,
                         (unsigned long long)n, (unsigned long long)extra);
        else if (per * n + extra < room)
            rc = cb_fail(err, CB_ERR_INVALID, "%s: corrupt checkpoint (%llu bytes after its end)",
                         path, (unsigned long long)(room - per * n - extra));
    }
    if (rc == CB_OK) {
        *len = (size_t)fsize;
        *buf = malloc(*len);
        if (!*buf) {
            rc = cb_fail(err, CB_ERR_NOMEM, "%s: out of memory (%zu bytes)", path, *len);
        } else {
            memcpy(*buf, h, HDR_LEN);
            if (fread(*buf + HDR_LEN, 1, *len - HDR_LEN, f) != *len - HDR_LEN) {
                rc = cb_fail(err, CB_ERR_IO, "%s: cannot read: %s", path,
                             ferror(f) ? strerror(errno) : "file shrank while read");
                free(*buf);
                *buf = NULL;
            }
        }
    }
    fclose(f);
    return rc;
}

int cb_nn_checkpoint_load(const char *path, const char *backend, const char *config_hash,
                          cb_nn_params *p, cb_nn_ckpt_state *st, cb_error *err)
{
    if (!p->w) return cb_fail(err, CB_ERR_USAGE, "%s: parameter set not allocated", path);
    unsigned char *b = NULL;
    size_t len = 0;
    int rc = read_checked(path, &b, &len, err);
    if (rc) return rc;

    uint32_t stored = cb_get_u32(b + len - CRC_LEN);
    uint32_t crc = (uint32_t)crc_update(crc32(0L, Z_NULL, 0), b, len - CRC_LEN);
    char want_backend[CB_NN_BACKEND_MAX] = {0};
    strncpy(want_backend, backend, CB_NN_BACKEND_MAX - 1);
    char text[65], layout[CB_SHA256_HEX];
    cb_nn_params_layout_hash(p, layout);
    uint64_t n = cb_get_u64(b + OFF_COUNT), has_spare = cb_get_u64(b + OFF_HAS_SPARE);
    uint64_t extra_len = cb_get_u64(b + OFF_EXTRA);
    unsigned char *extra = NULL;

    if (crc != stored) {
        rc = cb_fail(err, CB_ERR_INVALID, "%s: corrupt checkpoint (CRC32 %08x, stored %08x)",
                     path, (unsigned)crc, (unsigned)stored);
    } else if (strlen(backend) >= CB_NN_BACKEND_MAX ||
               memcmp(b + OFF_BACKEND, want_backend, CB_NN_BACKEND_MAX) != 0) {
        field_text(text, b + OFF_BACKEND, CB_NN_BACKEND_MAX);
        rc = cb_fail(err, CB_ERR_INVALID, "%s: checkpoint of backend '%s', not '%s'", path, text,
                     backend);
    } else if (strlen(config_hash) != 64 || memcmp(b + OFF_CONFIG, config_hash, 64) != 0) {
        field_text(text, b + OFF_CONFIG, 64);
        rc = cb_fail(err, CB_ERR_INVALID,
                     "%s: checkpoint of another config (config hash %.12s..., this config %.12s...)",
                     path, text, config_hash);
    } else if (n != (uint64_t)p->count) {
        rc = cb_fail(err, CB_ERR_INVALID, "%s: checkpoint has %llu parameters, the model %zu", path,
                     (unsigned long long)n, p->count);
    } else if (memcmp(b + OFF_LAYOUT, layout, 64) != 0) {
        rc = cb_fail(err, CB_ERR_INVALID,
                     "%s: checkpoint has another parameter layout (tensor names or shapes differ)", path);
    } else if (has_spare > 1) {
        rc = cb_fail(err, CB_ERR_INVALID, "%s: corrupt checkpoint (bad RNG state)", path);
    } else if (extra_len > 0 && !(extra = malloc((size_t)extra_len))) {
        rc = cb_fail(err, CB_ERR_NOMEM, "%s: out of memory", path);
    }
    if (rc) {
        free(b);
        return rc;
    }

    /* Everything checked: only now change the caller's state. */
    const int v1 = cb_get_u32(b + OFF_VERSION) == 1;
    const unsigned char *x = b + (v1 ? HDR_LEN_V1 : HDR_LEN);
    const size_t bytes = 4 * p->count;
    int weights_only = !v1 && (cb_get_u64(b + OFF_FLAGS) & FLAG_WEIGHTS_ONLY) != 0;
    if (weights_only) {
        get_floats(p->ema, x, p->count);
        memcpy(p->w, p->ema, bytes);
        memset(p->m, 0, bytes);
        memset(p->v, 0, bytes);
        x += bytes;
    } else {
        get_floats(p->w, x, p->count);
        get_floats(p->m, x + bytes, p->count);
        get_floats(p->v, x + 2 * bytes, p->count);
        get_floats(p->ema, x + 3 * bytes, p->count);
        x += 4 * bytes;
    }
    if (extra) memcpy(extra, x, (size_t)extra_len);
    cb_nn_params_zero_grad(p);
    p->adam_steps = cb_get_u64(b + OFF_ADAM);
    p->ema_updates = cb_get_u64(b + OFF_EMA);
    free(st->extra);
    st->extra = extra;
    st->extra_len = (size_t)extra_len;
    st->step = cb_get_u64(b + OFF_STEP);
    for (int i = 0; i < 4; i++) st->rng.s[i] = cb_get_u64(b + OFF_RNG + 8 * i);
    uint64_t spare = cb_get_u64(b + OFF_SPARE);
    memcpy(&st->rng.spare, &spare, 8);
    st->rng.has_spare = (int)has_spare;
    st->weights_only = weights_only;
    free(b);
    return CB_OK;
}

void cb_nn_ckpt_state_free(cb_nn_ckpt_state *st)
{
    free(st->extra);
    st->extra = NULL;
    st->extra_len = 0;
}
