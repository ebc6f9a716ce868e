/* Finding gnuplot and running it on a script (plot.h). */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plot.h"

extern char **environ;

static int is_executable(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && access(path, X_OK) == 0;
}

int cb_plot_find_gnuplot(char *buf, size_t cap)
{
    const char *want = getenv("CB_GNUPLOT");
    if (!want || !want[0]) want = "gnuplot";
    if (strchr(want, '/')) {
        if (!is_executable(want) || (size_t)snprintf(buf, cap, "%s", want) >= cap) return -1;
        return 0;
    }
    const char *path = getenv("PATH");
    if (!path || !path[0]) path = "/usr/local/bin:/usr/bin:/bin";
    /* Each PATH entry in turn, as execvp would; an empty entry is the current directory. */
    for (const char *dir = path;; dir++) {
        const char *end = strchr(dir, ':');
        size_t len = end ? (size_t)(end - dir) : strlen(dir);
        int n = snprintf(buf, cap, "%.*s/%s", (int)(len ? len : 1), len ? dir : ".", want);
        if (n > 0 && (size_t)n < cap && is_executable(buf)) return 0;
        if (!end) break;
        dir = end;
    }
    return -1;
}

int cb_plot_run_gnuplot(const char *gnuplot, const char *script, cb_error *err)
{
    /* Output so far goes out before gnuplot's own messages. */
    fflush(stdout);
    fflush(stderr);
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa)) return cb_fail(err, CB_ERR_NOMEM, "%s: out of memory", script);
    int rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    char *argv[] = {(char *)gnuplot, (char *)script, NULL};
    pid_t pid = -1;
    if (!rc) rc = posix_spawn(&pid, gnuplot, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc) return cb_fail(err, CB_ERR_EXTERNAL, "%s: cannot run %s: %s", script, gnuplot, strerror(rc));
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return cb_fail(err, CB_ERR_EXTERNAL, "%s: lost gnuplot (pid %ld): %s", script, (long)pid,
                           strerror(errno));
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return CB_OK;
    if (WIFEXITED(st))
        return cb_fail(err, CB_ERR_EXTERNAL, "gnuplot failed on %s (exit %d)", script, WEXITSTATUS(st));
    return cb_fail(err, CB_ERR_EXTERNAL, "gnuplot died on %s (signal %d)", script,
                   WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}
