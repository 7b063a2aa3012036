/*
 * cshm_files.h — the file operations behind creating, opening and removing a segment. Each
 * returns 0 or a file descriptor, or -errno; EINTR is retried inside (close is never retried).
 */
#ifndef CSHM_FILES_H
#define CSHM_FILES_H

#include <stdint.h>

/* open(dir, O_TMPFILE|O_RDWR|O_CLOEXEC, 0600): an unnamed segment file. Returns fd or -errno. */
int cshm_tmpfile(const char *dir);
/* Gives the unnamed file `fd` the name `path` atomically; fails with -EEXIST if it exists. */
int cshm_link(int fd, const char *path);
/* shm_open(name, O_RDWR|O_CLOEXEC, 0) without O_CREAT. Returns fd or -errno. */
int cshm_open(const char *name);
/* shm_unlink. Returns 0 or -errno. */
int cshm_unlink(const char *name);
/* pipe2(fds, O_CLOEXEC): Swift's Glibc module does not see pipe2 (it needs _GNU_SOURCE), and a
 * pipe made with pipe() + fcntl leaks into processes spawned by other threads in between. */
int cshm_pipe_cloexec(int fds[2]);
/* st_ino of /proc/self/ns/pid, or 0 when unknown. */
uint64_t cshm_pid_namespace(void);
/* Whether thread `tid` (of any process of this pid namespace) has the file (dev, ino) mapped,
 * from /proc/TID/maps: 1 yes, 0 no (also when its maps are not readable to us: another uid, or
 * not dumpable), -1 no such thread, -2 cannot tell. */
int cshm_thread_maps(int32_t tid, uint64_t dev, uint64_t ino);

#endif /* CSHM_FILES_H */
