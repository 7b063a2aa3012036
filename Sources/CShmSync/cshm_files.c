/* The file operations behind creating, opening and removing a segment. */
#define _GNU_SOURCE
#include "cshm_files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

int cshm_tmpfile(const char *dir) {
    int fd;
    do { fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600); } while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : fd;
}

int cshm_link(int fd, const char *path) {
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    return linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0 ? 0 : -errno;
}

int cshm_open(const char *name) {
    int fd;
    do { fd = shm_open(name, O_RDWR | O_CLOEXEC, 0); } while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : fd;
}

int cshm_unlink(const char *name) { return shm_unlink(name) == 0 ? 0 : -errno; }

int cshm_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC) == 0 ? 0 : -errno; }

uint64_t cshm_pid_namespace(void) {
    struct stat st;
    if (stat("/proc/self/ns/pid", &st) != 0) return 0;
    return (uint64_t)st.st_ino;
}

int cshm_thread_maps(int32_t tid, uint64_t dev, uint64_t ino) {
    if (tid <= 0) return -1;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)tid);
    FILE *f = fopen(path, "re");
    if (!f) {
        if (errno == ENOENT || errno == ESRCH) return -1;
        /* Not readable: another uid, or not dumpable — not a process that opened this 0600
         * segment in the ordinary way. */
        if (errno == EACCES || errno == EPERM) return 0;
        return (kill(tid, 0) == 0 || errno == EPERM) ? -2 : -1;
    }
    char *line = NULL;
    size_t cap = 0;
    int found = 0;
    while (!found && getline(&line, &cap, f) > 0) {
        unsigned long start, end, offset, inode;
        unsigned major, minor;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu", &start, &end, perms, &offset, &major, &minor, &inode) == 7)
            found = inode == ino && makedev(major, minor) == dev;
    }
    int gone = ferror(f) && (errno == ESRCH || errno == ENOENT); /* the thread ended while read */
    free(line);
    fclose(f);
    return found ? 1 : gone ? -1 : 0;
}
