/*
 * CBatchCore — the state of the batching algorithm, in C so that its layout is fixed, and the
 * relaxed atomics the algorithm uses on it. Every symbol is prefixed `cbatch_`.
 *
 * Why C: both homes of the algorithm keep exactly these structs — the in-process homes in
 * ordinary memory, the shared-memory home (BatchIPC) inside a POSIX shared-memory segment mapped
 * by several processes, where Swift promises no struct layout — and Swift cannot do atomics over
 * memory it does not own. The algorithm itself (Sources/Batch/Engine) reads and writes these
 * structs; it is written once.
 *
 * This is all that the in-process `Batch` module needs from C. Shared memory, the robust mutex,
 * futexes and thread-local slots are in CShmSync, which only BatchIPC imports.
 *
 * Every field says who may touch it and how. "Under the lock" means while the home's mutex is
 * held (the in-process pthread mutex, or the segment's robust process-shared mutex).
 */
#ifndef CBATCHCORE_H
#define CBATCHCORE_H

#if !defined(__linux__)
#error "swift-batch supports Linux only: it needs futexes, robust process-shared mutexes and /dev/shm"
#endif

#include <stdint.h>

/* One coach: one batch in flight. Every field is read and written under the lock. */
typedef struct cbatch_coach {
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
} cbatch_coach;

/* What a home holds once, besides its coaches. */
typedef struct cbatch_core {
    /* Workers that announced they are coming (queueIn) and have neither entered nor left
     * (queueOut). Incremented without the lock (atomic), decremented atomically; read under the
     * lock by a worker deciding whether to commit. A worker waiting to enter still counts.
     * (The shared-memory home leaves it 0 and keeps the queue as per-process counters.) */
    int64_t queue;
    /* Token of the thread (or, in an async home, the task) that holds the critical section:
     * between enter and exit, except while it waits in commit or runs the commit function; 0
     * when none. Written under the lock; read atomically (relaxed) by anyone to catch misuse
     * (exit without enter, enter twice). */
    uint64_t holder;
    /* Under the lock: the coach the holder entered. */
    int32_t holder_coach;
    /* Under the lock: the holder's progress in its batch, a `_HolderState` (Swift):
     * 0 = none, 1 = inside with no outcome yet (may commit or cancel), 2 = has its outcome
     * (may only exit), 3 = inside with no outcome, left on purpose (a throw does not poison). */
    uint32_t holder_state;
} cbatch_core;

_Static_assert(sizeof(cbatch_coach) == 24, "cbatch_coach layout changed: bump the segment version");
_Static_assert(sizeof(cbatch_core) == 24, "cbatch_core layout changed: bump the segment version");

/* Atomics over memory that Swift does not own (a segment, or a raw allocation). Relaxed: every
 * decision that depends on these values is taken under the lock, which orders them. */
static inline int64_t cbatch_atomic_add_i64(int64_t *p, int64_t v) {
    return __atomic_add_fetch(p, v, __ATOMIC_RELAXED);
}
static inline int64_t cbatch_atomic_load_i64(const int64_t *p) {
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}
static inline void cbatch_atomic_store_i64(int64_t *p, int64_t v) {
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}
static inline uint64_t cbatch_atomic_load_u64(const uint64_t *p) {
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}
static inline void cbatch_atomic_store_u64(uint64_t *p, uint64_t v) {
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}

/* A nonzero token naming the calling thread within its process: the thread pointer, read inline
 * (pthread_self() is a library call, and the algorithm asks three times per operation). */
static inline uint64_t cbatch_thread_token(void) {
    return (uint64_t)(uintptr_t)__builtin_thread_pointer();
}

#endif /* CBATCHCORE_H */
