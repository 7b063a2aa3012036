/*
 * cshm_sync.h — the synchronisation primitives of a segment: the robust process-shared mutex,
 * the futex condition (a sequence word per wait channel; no pthread_cond_t, which breaks for good
 * on this glibc once a waiting process is killed), and atomics on the segment's words.
 */
#ifndef CSHM_SYNC_H
#define CSHM_SYNC_H

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Initialises a robust, process-shared mutex at `m`. Returns 0 or an errno. */
int cshm_mutex_init(pthread_mutex_t *_Nonnull m);

/* The robust mutex. lock returns 0, EOWNERDEAD (the holder died: repair the state, then call
 * cshm_mutex_consistent), or another errno; pthread_mutex_lock never fails with EINTR. */
static inline int cshm_mutex_lock(pthread_mutex_t *_Nonnull m) { return pthread_mutex_lock(m); }
static inline int cshm_mutex_trylock(pthread_mutex_t *_Nonnull m) { return pthread_mutex_trylock(m); }
static inline int cshm_mutex_unlock(pthread_mutex_t *_Nonnull m) { return pthread_mutex_unlock(m); }
static inline int cshm_mutex_consistent(pthread_mutex_t *_Nonnull m) { return pthread_mutex_consistent(m); }

/* Waits at most `timeout_ns` (CLOCK_MONOTONIC, so that a change of the wall clock cannot stretch
 * it) for the mutex. Returns 0, EOWNERDEAD, ETIMEDOUT, or another errno. */
int cshm_mutex_timedlock(pthread_mutex_t *_Nonnull m, int64_t timeout_ns);

/* The mutex's lock word (glibc's __data.__lock), read atomically: 0 when free, otherwise the
 * owner's thread id in the low 30 bits (FUTEX_TID_MASK), plus FUTEX_OWNER_DIED when the kernel
 * found the owner dead, plus FUTEX_WAITERS. Read only to judge a lock that stays taken (and by
 * tests: SharedSegment._mutexIsHeld). */
static inline uint32_t cshm_mutex_word(pthread_mutex_t *_Nonnull m) {
    return __atomic_load_n((uint32_t *)&m->__data.__lock, __ATOMIC_RELAXED);
}

/* The kind (glibc's __data.__kind) that cshm_mutex_init gives: robust, process-shared, normal. */
int cshm_mutex_expected_kind(void);
/* 1 when the mutex's kind is that of cshm_mutex_init, else 0. glibc dispatches every call on the
 * kind: another one can make it assert (priority inheritance with a made-up owner), wait for
 * ever, or fail with EINVAL. */
int cshm_mutex_kind_ok(const pthread_mutex_t *_Nonnull m);
/* trylock and unlock of a segment's mutex whose kind must be `kind`: EINVAL, without calling
 * glibc, when another process wrote another one (a compare on the line the call touches anyway;
 * measured: no cost beyond noise). */
static inline int cshm_mutex_trylock_kind(pthread_mutex_t *_Nonnull m, int kind) {
    if (__atomic_load_n(&m->__data.__kind, __ATOMIC_RELAXED) != kind) return EINVAL;
    return pthread_mutex_trylock(m);
}
static inline int cshm_mutex_unlock_kind(pthread_mutex_t *_Nonnull m, int kind) {
    if (__atomic_load_n(&m->__data.__kind, __ATOMIC_RELAXED) != kind) return EINVAL;
    return pthread_mutex_unlock(m);
}

/* glibc keeps the holder's robust-list links (pointers of the holder's process) inside the
 * mutex, and follows them on unlock: a holder that keeps a mutex long saves them after locking
 * and puts them back before unlocking, so that what another process wrote there meanwhile is
 * never followed. */
typedef struct cshm_mutex_links {
    void *_Nullable prev, *_Nullable next;
} cshm_mutex_links;
static inline cshm_mutex_links cshm_mutex_links_get(pthread_mutex_t *_Nonnull m) {
    cshm_mutex_links l = { m->__data.__list.__prev, m->__data.__list.__next };
    return l;
}
static inline void cshm_mutex_links_set(pthread_mutex_t *_Nonnull m, cshm_mutex_links l) {
    m->__data.__list.__prev = (struct __pthread_internal_list *)l.prev;
    m->__data.__list.__next = (struct __pthread_internal_list *)l.next;
}

/* The calling thread's id (gettid). */
int32_t cshm_gettid(void);

/* The futex condition: shared (not _PRIVATE) operations, so that they work across processes.
 * Sleeps while `*word == expected`, at most `timeout_ns`. Returns 0 or an errno: ETIMEDOUT,
 * EAGAIN (the word changed), EINTR — all mean "re-check". */
static inline int cshm_futex_wait(uint32_t *_Nonnull word, uint32_t expected, int64_t timeout_ns) {
    struct timespec ts = { (time_t)(timeout_ns / 1000000000), (long)(timeout_ns % 1000000000) };
    long r = syscall(SYS_futex, word, FUTEX_WAIT, expected, &ts, NULL, 0);
    return r == 0 ? 0 : errno;
}

/* Wakes one sleeper of `word`, or all of them. */
static inline void cshm_futex_wake(uint32_t *_Nonnull word, int all) {
    syscall(SYS_futex, word, FUTEX_WAKE, all ? 0x7fffffff : 1, NULL, NULL, 0);
}

/* Before a futex wait: yields the CPU up to `yields` times, and for at most `budget_ns`, while
 * `*word == expected`; returns 1 when it changed (a wake came: no need to sleep), 0 otherwise.
 * With more runnable processes than CPUs the yield runs the very processes whose progress the
 * waiter waits for, and a wake that comes meanwhile costs neither a FUTEX_WAIT nor the wake-up
 * of a sleeping process. Bounded in time as well as in count: with unrelated CPU-bound processes
 * about, one yield may give away a whole time slice, and the waiter looks for dead participants
 * only once it wakes. Whether to yield at all is BatchIPC's decision (see FutexCondition.swift). */
static inline int cshm_yield_until_changed(uint32_t *_Nonnull word, uint32_t expected, int yields, int64_t budget_ns) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    int64_t deadline = (int64_t)t.tv_sec * 1000000000 + t.tv_nsec + budget_ns;
    for (int i = 0; i < yields; i++) {
        if (__atomic_load_n(word, __ATOMIC_ACQUIRE) != expected) return 1;
        sched_yield();
        clock_gettime(CLOCK_MONOTONIC, &t); /* vDSO: tens of ns, next to a system call per yield */
        if ((int64_t)t.tv_sec * 1000000000 + t.tv_nsec >= deadline) break;
    }
    return __atomic_load_n(word, __ATOMIC_ACQUIRE) != expected;
}

/* Sleeps until one of `count` (at most 128) 32-bit words no longer holds its expected value, or
 * until the CLOCK_MONOTONIC time `deadline_ns`: futex_waitv(2), Linux 5.16 or later. Word i is a
 * private futex when `private_flags[i]` is nonzero, a shared one otherwise. Returns the index of a
 * word that was woken (>= 0), or -errno: -ETIMEDOUT, -EAGAIN (a word differed already), -EINTR,
 * -ENOSYS (an older kernel: the caller polls instead). */
int cshm_futex_waitv(uint32_t *_Nonnull const *_Nonnull words, const uint32_t *_Nonnull expected,
                     const uint8_t *_Nonnull private_flags, int count,
                     int64_t deadline_ns);

/* Atomics on 32-bit words of the segment. The read-modify-write is sequentially consistent: it
 * bumps a futex word that a sleeper compares just before FUTEX_WAIT. */
static inline uint32_t cshm_atomic_add_u32(uint32_t *_Nonnull p, uint32_t v) {
    return __atomic_add_fetch(p, v, __ATOMIC_SEQ_CST);
}
/* Stores `desired` when the word is 0; returns the word's value before (0: stored). */
static inline uint32_t cshm_atomic_set_if_zero_u32(uint32_t *_Nonnull p, uint32_t desired) {
    uint32_t expected = 0;
    __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
    return expected;
}
static inline uint32_t cshm_atomic_load_u32(const uint32_t *_Nonnull p) {
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}
static inline void cshm_atomic_store_u32(uint32_t *_Nonnull p, uint32_t v) {
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}
static inline void cshm_atomic_store_u32_release(uint32_t *_Nonnull p, uint32_t v) {
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}
static inline void cshm_atomic_store_i32(int32_t *_Nonnull p, int32_t v) {
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}
static inline int32_t cshm_atomic_load_i32(const int32_t *_Nonnull p) {
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* A counter written only under the segment mutex and read by anyone: a relaxed load and store,
 * not a locked read-modify-write (the mutex already serialises the writers). */
static inline void cshm_counter_bump(uint64_t *_Nonnull p) {
    __atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

#endif /* CSHM_SYNC_H */
