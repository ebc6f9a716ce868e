/* The progress bar: silent unless stderr is a terminal or it is forced, and when it
 * draws, the line carries the count, the rate, the ETA and the note. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crystalbench/progress.h"
#include "testutil.h"

/* Runs fn with stderr sent to a temporary file; returns what it printed. */
static char *capture_stderr(void (*fn)(void))
{
    char path[] = "/tmp/cbprogress.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    fn();
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fd);
    char *text = cb_test_read_file(path, NULL);
    unlink(path);
    assert_non_null(text);
    return text;
}

static void draw_forced(void)
{
    cb_progress p;
    cb_progress_start(&p, "training", 200);
    cb_progress_force(&p, 1);
    cb_progress_note(&p, "loss %.3f", 0.125);
    cb_progress_update(&p, 50);
    cb_progress_finish(&p);
}

static void draw_default(void)
{
    cb_progress p;
    cb_progress_start(&p, "reading", 10);
    cb_progress_update(&p, 5);
    cb_progress_finish(&p);
}

static void test_forced_bar_shows_counts_rate_eta_note(void **state)
{
    (void)state;
    unsetenv("CB_PROGRESS");
    char *out = capture_stderr(draw_forced);
    assert_non_null(strstr(out, "training ["));
    assert_non_null(strstr(out, "50/200"));
    assert_non_null(strstr(out, "/s"));
    assert_non_null(strstr(out, "ETA "));
    assert_non_null(strstr(out, "loss 0.125"));
    free(out);
}

static void draw_resumed(void)
{
    cb_progress p;
    cb_progress_start(&p, "training", 1000);
    cb_progress_force(&p, 1);
    cb_progress_resume(&p, 900); /* 900 steps came from a checkpoint */
    usleep(50000);
    cb_progress_update(&p, 910);
    cb_progress_finish(&p);
}

/* After a resume the rate counts only the steps of this session: 10 in ≥ 50 ms is at
 * most 200/s, where counting the resumed 900 would give ≥ 18,000/s. */
static void test_resumed_rate_counts_new_work_only(void **state)
{
    (void)state;
    unsetenv("CB_PROGRESS");
    char *out = capture_stderr(draw_resumed);
    const char *at = strstr(out, "910/1000 ");
    assert_non_null(at);
    double rate = atof(at + strlen("910/1000 "));
    if (!(rate > 0 && rate <= 200.0)) fail_msg("rate %.1f/s after a resume:\n%s", rate, out);
    free(out);
}

static void test_silent_when_not_a_terminal(void **state)
{
    (void)state;
    unsetenv("CB_PROGRESS");
    char *out = capture_stderr(draw_default); /* stderr is a file here */
    assert_string_equal(out, "");
    free(out);
    setenv("CB_PROGRESS", "1", 1); /* the environment can ask for it */
    out = capture_stderr(draw_default);
    assert_non_null(strstr(out, "5/10"));
    free(out);
    unsetenv("CB_PROGRESS");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forced_bar_shows_counts_rate_eta_note),
        cmocka_unit_test(test_silent_when_not_a_terminal),
        cmocka_unit_test(test_resumed_rate_counts_new_work_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
