#include "crystalbench/progress.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double cb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cb_progress_start(cb_progress *p, const char *label, size_t total)
{
    memset(p, 0, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label);
    p->total = total;
    p->t_start = cb_now();
    const char *env = getenv("CB_PROGRESS");
    p->enabled = env ? atoi(env) != 0 : isatty(STDERR_FILENO);
}

void cb_progress_force(cb_progress *p, int on) { p->enabled = on; }

static void format_seconds(double s, char *out, size_t cap)
{
    if (s < 0 || s > 1e7) {
        snprintf(out, cap, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(out, cap, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else
        snprintf(out, cap, "%02ld:%02ld", t / 60, t % 60);
}

static void draw(cb_progress *p, double now)
{
    /* A terminal gets one line redrawn in place; a log gets one plain line per draw. */
    int tty = isatty(STDERR_FILENO);
    double elapsed = now - p->t_start;
    size_t fresh = p->done > p->done_before ? p->done - p->done_before : 0;
    double rate = elapsed > 0 ? (double)fresh / elapsed : 0.0;
    char eta[32] = "", el[32];
    format_seconds(elapsed, el, sizeof el);
    char bar[32] = "";
    if (p->total) {
        double frac = (double)p->done / (double)p->total;
        if (frac > 1) frac = 1;
        int width = 20, full = (int)(frac * width);
        for (int i = 0; i < width; i++) bar[i] = i < full ? '#' : '.';
        bar[width] = '\0';
        format_seconds(rate > 0 ? (double)(p->total - (p->done < p->total ? p->done : p->total)) / rate : -1,
                       eta, sizeof eta);
        fprintf(stderr, "%s%s [%s] %zu/%zu %.1f/s %s ETA %s%s%s", tty ? "\r" : "", p->label, bar, p->done, p->total, rate,
                el, eta, p->note[0] ? "  " : "", p->note);
    } else {
        fprintf(stderr, "%s%s %zu %.1f/s %s%s%s", tty ? "\r" : "", p->label, p->done, rate, el, p->note[0] ? "  " : "",
                p->note);
    }
    /* Clear what a longer previous line left behind. */
    fputs(tty ? "\033[K" : "\n", stderr);
    fflush(stderr);
    p->t_drawn = now;
    p->drawn = tty;
}

void cb_progress_resume(cb_progress *p, size_t done)
{
    p->done = p->done_before = done;
    p->t_start = cb_now();
}

void cb_progress_update(cb_progress *p, size_t done)
{
    p->done = done;
    if (!p->enabled) return;
    double now = cb_now();
    /* Terminals get 10 redraws a second; logs one line every 5 s. */
    double every = isatty(STDERR_FILENO) ? 0.1 : 5.0;
    if (now - p->t_drawn >= every) draw(p, now);
}

void cb_progress_note(cb_progress *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->note, sizeof p->note, fmt, ap);
    va_end(ap);
}

void cb_progress_finish(cb_progress *p)
{
    if (!p->enabled) return;
    draw(p, cb_now());
    if (p->drawn) fputc('\n', stderr);
    p->drawn = 0;
}
