/* Helpers shared by the cmocka tests. */
#ifndef CB_TESTUTIL_H
#define CB_TESTUTIL_H

#include <stddef.h>

/* $CB_SHARED_DIR/data if it exists, else NULL after printing why the caller will skip. */
const char *cb_test_shared_data(void);
/* Path of a file under shared/data (static buffer, valid until the next call), or NULL
 * (with a printed reason) when shared/ is absent or the file is missing. */
const char *cb_test_data_file(const char *relpath);
/* $CB_PYTHON if it can `import pymatgen`, else NULL after printing why. Result cached. */
const char *cb_test_pymatgen_python(void);
/* $CB_BIN (the crystalbench CLI), or "build/crystalbench". */
const char *cb_test_cli(void);
/* A fresh temporary directory (mkdtemp) under $TMPDIR; the caller removes it with
 * cb_test_rmtree. Returns a malloc'd path. */
char *cb_test_tmpdir(void);
void cb_test_rmtree(const char *path);
/* Group fixtures giving a test program one scratch directory:
 *   cmocka_run_group_tests(tests, cb_test_scratch_setup, cb_test_scratch_teardown)
 * and cb_test_scratch() its path while the group runs. */
int cb_test_scratch_setup(void **state);
int cb_test_scratch_teardown(void **state);
const char *cb_test_scratch(void);
/* Runs a shell command and captures stdout (malloc'd, NUL-terminated) and the exit status. */
char *cb_test_run(const char *cmd, int *status);
/* cb_test_run with a printf-style command; aborts the test program when the command
 * cannot be started (never returns NULL). */
char *cb_test_runf(int *status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Writes the first `rows` structures of shared/data/<relpath> to dst as a CSV of CIFs
 * (a small dataset for a test); fails the test when it cannot. */
void cb_test_write_head(const char *relpath, size_t rows, const char *dst);
/* Reads a whole file (malloc'd, NUL-terminated); NULL on error. */
char *cb_test_read_file(const char *path, size_t *len);



/* reference/reference_vectors.json parsed with cJSON (cJSON_Delete it), or NULL with a
 * printed reason when shared/ is absent. */
struct cJSON;
struct cJSON *cb_test_reference_vectors(void);
/* A JSON array of numbers into doubles (null → NaN); returns the count or -1. */
int cb_test_json_doubles(const struct cJSON *arr, double *out, int cap);
#endif
