/* The non-inline part of the shared-memory segment: layout rule, mutex init, file operations. */
#define _GNU_SOURCE
#include "CShmSync.h"

#ifdef __linux__
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>

_Static_assert(sizeof(cshm_proc) == 64, "cshm_proc layout changed: bump CSHM_VERSION");
_Static_assert(offsetof(cshm_proc, queued) == CSHM_PROC_QUEUED_OFFSET, "update CSHM_PROC_QUEUED_OFFSET");
_Static_assert(offsetof(cshm_channel, seq) == 0 && offsetof(cshm_channel, sleepers) == 4,
               "cshm_channel layout: SharedSegment.seqP/sleepersP assume seq at 0, sleepers at 4");

cshm_phase_hook_fn cshm_phase_hook = 0;

static uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

int cshm_layout(cshm_header *h) {
    if (h->coaches < 1 || h->coaches > CSHM_MAX_COACHES) return EINVAL;
    if (h->slots < 1 || h->slots > CSHM_MAX_SLOTS) return EINVAL;
    if (h->procs < 1 || h->procs > CSHM_MAX_SLOTS) return EINVAL;
    if (h->state_size > CSHM_MAX_BYTES || h->arena_capacity > CSHM_MAX_BYTES
        || h->result_capacity > CSHM_MAX_BYTES)
        return EINVAL;
    h->size_header = sizeof(cshm_header);
    h->size_mutex = sizeof(pthread_mutex_t);
    h->size_core = sizeof(cshm_core);
    h->size_coach = sizeof(cshm_coach);
    h->size_slot = sizeof(cshm_slot);
    h->size_proc = sizeof(cshm_proc);
    h->size_result = sizeof(cshm_result);
    h->size_shadow = sizeof(cshm_shadow);
    uint64_t c = h->coaches;
    uint64_t off = round_up(sizeof(cshm_header), 64);
    h->off_channels = off;
    off = round_up(off + (c + 1) * sizeof(cshm_channel), 64);
    h->off_coaches = off;
    off = round_up(off + c * sizeof(cshm_coach), 64);
    h->stride_result = round_up(sizeof(cshm_result) + h->result_capacity + CSHM_ERROR_TEXT, 64);
    h->off_results = off;
    off += c * h->stride_result;
    h->off_slots = off;
    off = round_up(off + (uint64_t)h->slots * sizeof(cshm_slot), 64);
    h->off_procs = off;
    off = round_up(off + (uint64_t)h->procs * sizeof(cshm_proc), 64);
    h->stride_shadow = round_up(sizeof(cshm_shadow) + c * sizeof(cshm_coach), 64);
    h->off_shadow = off;
    off += 2 * h->stride_shadow;
    h->stride_state = round_up(h->state_size, 64);
    h->off_state = off;
    off += c * h->stride_state;
    h->stride_arena = round_up(8 + h->arena_capacity, 64);
    h->off_arena = off;
    off += c * h->stride_arena;
    h->total_size = off;
    return 0;
}

int cshm_mutex_init(pthread_mutex_t *m) {
    pthread_mutexattr_t a;
    int rc = pthread_mutexattr_init(&a);
    if (rc) return rc;
    rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    if (!rc) rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    if (!rc) rc = pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
    return rc;
}

uint64_t cshm_pid_namespace(void) {
    struct stat st;
    if (stat("/proc/self/ns/pid", &st) != 0) return 0;
    return (uint64_t)st.st_ino;
}

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

__thread cshm_tls_entry cshm_tls_cache[CSHM_TLS_ENTRIES] __attribute__((tls_model("initial-exec")));

int cshm_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC) == 0 ? 0 : -errno; }

int cshm_unlink(const char *name) { return shm_unlink(name) == 0 ? 0 : -errno; }
#endif
