/* Provenance of a run: the revision of the source tree the binary was built from.
 *
 * The tree is found from __FILE__, which CMake passes as an absolute path
 * (<tree>/harness/provenance.c), so no build-system variable is needed.  git runs
 * through posix_spawnp (no shell, no quoting), with GIT_OPTIONAL_LOCKS=0 so that
 * asking never takes the index lock from under a concurrent git command. */
#include "crystalbench/store.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Runs git -C dir <args…>; returns its exit status (-1 when it could not run) and, when
 * out is non-NULL, the first line of its stdout. */
static int run_git(const char *dir, const char *const *args, char *out, size_t cap)
{
    const char *argv[16];
    int argc = 0;
    argv[argc++] = "git";
    argv[argc++] = "-C";
    argv[argc++] = dir;
    for (; *args && argc < 15; args++) argv[argc++] = *args;
    argv[argc] = NULL;

    size_t nenv = 0;
    while (environ && environ[nenv]) nenv++;
    char **envp = malloc((nenv + 2) * sizeof *envp);
    if (!envp) return -1;
    size_t k = 0;
    for (size_t i = 0; i < nenv; i++)
        if (strncmp(environ[i], "GIT_OPTIONAL_LOCKS=", 19) != 0) envp[k++] = environ[i];
    envp[k++] = "GIT_OPTIONAL_LOCKS=0";
    envp[k] = NULL;

    int fds[2];
    if (pipe(fds) != 0) {
        free(envp);
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    pid_t pid;
    int rc = posix_spawnp(&pid, "git", &fa, NULL, (char *const *)argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    free(envp);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return -1;
    }
    size_t len = 0;
    char buf[256];
    ssize_t got;
    /* Read everything (so git never blocks on a full pipe), keep the first line. */
    while ((got = read(fds[0], buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; out && i < got && len + 1 < cap; i++) out[len++] = buf[i];
    }
    close(fds[0]);
    if (out) {
        out[len] = '\0';
        out[strcspn(out, "\r\n")] = '\0';
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

char *cb_git_revision(char *buf, size_t cap)
{
    if (!buf || cap == 0) return buf;
    const char *env = getenv("CB_GIT_REV");
    if (env && env[0]) {
        snprintf(buf, cap, "%s", env);
        return buf;
    }
    snprintf(buf, cap, "unknown");

    /* <tree>/harness/provenance.c → <tree> */
    const char *file = __FILE__;
    const char *tail = "/harness/provenance.c";
    size_t n = strlen(file), t = strlen(tail);
    if (file[0] != '/' || n <= t || strcmp(file + n - t, tail) != 0) return buf;
    char dir[4096];
    if (n - t >= sizeof dir) return buf;
    memcpy(dir, file, n - t);
    dir[n - t] = '\0';

    char rev[64];
    static const char *const rev_args[] = {"rev-parse", "--short", "HEAD", NULL};
    if (run_git(dir, rev_args, rev, sizeof rev) != 0 || !rev[0]) return buf;
    /* Exit status 1: tracked files differ from HEAD. */
    static const char *const diff_args[] = {"diff", "--quiet", "HEAD", "--", NULL};
    int dirty = run_git(dir, diff_args, NULL, 0) == 1;
    snprintf(buf, cap, "%s%s", rev, dirty ? "-dirty" : "");
    return buf;
}
