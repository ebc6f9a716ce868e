/* A progress bar on stderr: count/total, rate, ETA, and an optional message such as the
 * current loss.  It draws only when stderr is a terminal, unless forced (CB_PROGRESS=1
 * in the environment or cb_progress_force), and redraws at most 10 times a second. */
#ifndef CRYSTALBENCH_PROGRESS_H
#define CRYSTALBENCH_PROGRESS_H

#include <stddef.h>

typedef struct cb_progress {
    char label[64];
    size_t total;     /* 0 = unknown: no ETA, no bar */
    size_t done;
    size_t done_before; /* done when this session began (cb_progress_resume): the rate
                           and ETA count only what was done since */
    double t_start;   /* seconds, monotonic */
    double t_drawn;
    int enabled;
    int drawn;        /* something is on the line and must be finished with a newline */
    char note[96];
} cb_progress;

void cb_progress_start(cb_progress *p, const char *label, size_t total);
/* Draw even when stderr is not a terminal (one line per redraw, for logs). */
void cb_progress_force(cb_progress *p, int on);
void cb_progress_update(cb_progress *p, size_t done);
/* Work resumed at `done` (e.g. training continued from a checkpoint): counted as done
 * but not in the rate, so the ETA is that of the remaining work. */
void cb_progress_resume(cb_progress *p, size_t done);
/* A short note shown after the counters, e.g. "loss 0.123". */
void cb_progress_note(cb_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Final redraw and newline. */
void cb_progress_finish(cb_progress *p);
/* Monotonic clock in seconds. */
double cb_now(void);

#endif
