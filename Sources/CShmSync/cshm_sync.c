/* The non-inline part of the synchronisation primitives, and the per-thread and per-process
 * globals of cshm_thread.h. */
#define _GNU_SOURCE /* pthread_mutex_clocklock, gettid */
#include "cshm_sync.h"
#include "cshm_thread.h"

#include <linux/futex.h>
#include <string.h>

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

int cshm_futex_waitv(uint32_t *_Nonnull const *_Nonnull words, const uint32_t *_Nonnull expected,
                     const uint8_t *_Nonnull private_flags, int count,
                     int64_t deadline_ns) {
#ifdef SYS_futex_waitv
    if (count < 1 || count > FUTEX_WAITV_MAX) return -EINVAL;
    struct futex_waitv waiters[FUTEX_WAITV_MAX];
    memset(waiters, 0, sizeof waiters);
    for (int i = 0; i < count; i++) {
        waiters[i].val = expected[i];
        waiters[i].uaddr = (uint64_t)(uintptr_t)words[i];
        waiters[i].flags = FUTEX_32 | (private_flags[i] ? FUTEX_PRIVATE_FLAG : 0);
    }
    struct timespec ts = { (time_t)(deadline_ns / 1000000000), (long)(deadline_ns % 1000000000) };
    long r = syscall(SYS_futex_waitv, waiters, (unsigned)count, 0, &ts, CLOCK_MONOTONIC);
    return r >= 0 ? (int)r : -errno;
#else
    (void)words; (void)expected; (void)private_flags; (void)count; (void)deadline_ns;
    return -ENOSYS;
#endif
}

int cshm_mutex_timedlock(pthread_mutex_t *m, int64_t timeout_ns) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    int64_t ns = t.tv_nsec + timeout_ns % 1000000000;
    t.tv_sec += (time_t)(timeout_ns / 1000000000 + ns / 1000000000);
    t.tv_nsec = (long)(ns % 1000000000);
    return pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &t);
}

int cshm_mutex_expected_kind(void) {
    /* Found once (-1: not yet; threads that race compute the same value). */
    static int expected = -1;
    int kind = __atomic_load_n(&expected, __ATOMIC_RELAXED);
    if (kind == -1) {
        pthread_mutex_t reference;
        if (cshm_mutex_init(&reference) != 0) return -2; /* no kind matches */
        kind = reference.__data.__kind;
        pthread_mutex_destroy(&reference);
        __atomic_store_n(&expected, kind, __ATOMIC_RELAXED);
    }
    return kind;
}

int cshm_mutex_kind_ok(const pthread_mutex_t *m) {
    return __atomic_load_n(&m->__data.__kind, __ATOMIC_RELAXED) == cshm_mutex_expected_kind();
}

int32_t cshm_gettid(void) { return (int32_t)gettid(); }

__thread cshm_tls_entry cshm_tls_cache[CSHM_TLS_ENTRIES] __attribute__((tls_model("initial-exec")));

cshm_phase_hook_fn cshm_phase_hook = 0;
