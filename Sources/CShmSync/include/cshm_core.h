/*
 * cshm_core.h — the state of the batching algorithm, in C so that its layout is fixed.
 *
 * Both homes of the algorithm keep exactly these structs: the in-process home in ordinary memory,
 * the shared-memory home inside a POSIX shared-memory segment mapped by several processes. The
 * algorithm itself (Sources/Batch/Engine.swift) reads and writes them; it is written once.
 *
 * Every field says who may touch it and how. "Under the lock" means while the home's mutex is
 * held (the in-process pthread mutex, or the segment's robust process-shared mutex).
 */
#ifndef CSHM_CORE_H
#define CSHM_CORE_H

#include <stdint.h>

/* One coach: one batch in flight. Every field is read and written under the lock. */
typedef struct cshm_coach {
    /* >= 0: the batch is filling and `count` workers are inside it (entered, not exited).
     *  < 0: the batch is closed — being committed, or its outcome is published — and -count
     *       workers have not exited yet. The last one out resets the coach to 0. */
    int64_t count;
    /* Incremented each time the coach resets: tells one batch of this coach from the next. */
    uint64_t generation;
    /* 1: commit as soon as possible (trigger()). Cleared when the coach resets or empties, so a
     *    trigger never leaks into the next batch. */
    uint32_t triggered;
    /* 1: the outcome of the closed batch is published and may be read. Cleared on reset.
     *    count < 0 && ready == 0 means "the committer is running the commit function". */
    uint32_t ready;
} cshm_coach;

/* What a home holds once, besides its coaches. */
typedef struct cshm_core {
    /* Workers that announced they are coming (queueIn) and have neither entered nor left
     * (queueOut). Incremented without the lock (atomic), decremented atomically; read under the
     * lock by a worker deciding whether to commit. A worker waiting to enter still counts. */
    int64_t queue;
    /* Token of the thread that holds the critical section (between enter and exit, except while
     * it sleeps in commit), 0 when none. Written under the lock; read atomically (relaxed) by
     * any thread to catch misuse (exit without enter, enter twice). */
    uint64_t holder;
    /* Under the lock: the coach the holder entered. */
    int32_t holder_coach;
    /* Under the lock: 1 = the holder entered and has no outcome yet (may commit or cancel);
     * 2 = the holder has its outcome (may only exit). */
    uint32_t holder_state;
} cshm_core;

_Static_assert(sizeof(cshm_coach) == 24, "cshm_coach layout changed: bump the segment version");
_Static_assert(sizeof(cshm_core) == 24, "cshm_core layout changed: bump the segment version");

/* Atomics over memory that Swift does not own (a segment, or a raw allocation). Relaxed: every
 * decision that depends on these values is taken under the lock, which orders them. */
static inline int64_t cshm_atomic_add_i64(int64_t *p, int64_t v) {
    return __atomic_add_fetch(p, v, __ATOMIC_RELAXED);
}
static inline int64_t cshm_atomic_load_i64(const int64_t *p) {
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}
static inline void cshm_atomic_store_i64(int64_t *p, int64_t v) {
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}
static inline uint64_t cshm_atomic_load_u64(const uint64_t *p) {
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}
static inline void cshm_atomic_store_u64(uint64_t *p, uint64_t v) {
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}

/* A nonzero token naming the calling thread within its process: the thread pointer, read inline
 * (pthread_self() is a library call, and the algorithm asks three times per operation). */
static inline uint64_t cshm_thread_token(void) {
    return (uint64_t)(uintptr_t)__builtin_thread_pointer();
}

#endif /* CSHM_CORE_H */
