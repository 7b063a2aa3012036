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

#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

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
    /* Announcements (queueIn) minus take-backs (queueOut): atomic, without the lock. The homes of
     * one process count the workers that stopped counting under the lock (entered, gave up)
     * apart, so that entering needs no atomic read-modify-write (`_ProcessMemory.departed`);
     * the queue's length, read under the lock by a worker deciding whether to commit, is the
     * difference. A worker waiting to enter still counts. (The shared-memory home leaves it 0
     * and keeps the queue as per-process counters.) */
    int64_t queue;
    /* Token of the thread (or, in an async home, the task) that holds the critical section:
     * between enter and exit, except while it waits in commit or runs the commit function; 0
     * when none. Written under the lock; read atomically (relaxed) by anyone to catch misuse
     * (exit without enter, enter twice). */
    uint64_t holder;
    /* Under the lock: the coach the holder entered. */
    int32_t holder_coach;
    /* Under the lock: the holder's progress in its batch, a `_HolderState` (Swift) in the low
     * byte: 0 = none, 1 = inside with no outcome yet (may commit or cancel), 2 = has its outcome
     * (may only exit), 3 = inside with no outcome, left on purpose (a throw does not poison);
     * and CBATCH_HOLDER_KEEPS_LOCK. */
    uint32_t holder_state;
} cbatch_core;

/* Bit of `holder_state`: the holder keeps the home's lock for its whole section (a blocking
 * worker of a home whose section is the lock). */
#define CBATCH_HOLDER_KEEPS_LOCK 0x100u

/* One wait channel of a blocking home: channel 0 = waiting to enter, 1 + c = waiting in commit on
 * coach c. The "futex condition" (no pthread_cond_t: it cannot live in a segment a waiting process
 * may die in). */
typedef struct cbatch_channel {
    /* Incremented (atomically, under the lock) by every wake; a sleeper waits while it is equal to
     * the value it read under the lock, so a wake between unlock and FUTEX_WAIT is never lost. */
    uint32_t seq;
    /* Under the lock: threads that may sleep (or yield) on `seq`; a wake costs nothing while 0.
     * (The shared-memory home recomputes it from its participant table after a crash.) */
    uint32_t sleepers;
} cbatch_channel;

/* What the waiting policy measures, per coordinator (Sources/Batch/Engine/WaitPolicy.swift). */
typedef struct cbatch_policy {
    /* Estimated duration of the commit function in ns, from measured commits: quick to fall,
     * slow to rise (_WaitPolicy.nextCommitEstimate); 0 until one is measured. Under the lock. */
    int64_t commit_ns;
    /* Workers of the most recently closed batch (any coach); 0 before the first. Under the lock. */
    int32_t last_batch;
    /* Batches committed since the last one that was measured (a lone, uncontended commit is
     * measured only now and then, so that the uncontended op reads no clock). Under the lock. */
    uint32_t unmeasured;
} cbatch_policy;

_Static_assert(sizeof(cbatch_coach) == 24, "cbatch_coach layout changed: bump the segment version");
_Static_assert(sizeof(cbatch_core) == 24, "cbatch_core layout changed: bump the segment version");
_Static_assert(sizeof(cbatch_channel) == 8, "cbatch_channel layout changed: bump the segment version");
_Static_assert(sizeof(cbatch_policy) == 16, "cbatch_policy layout changed: bump the segment version");

/* Atomics over memory that Swift does not own (a segment, or a raw allocation). Relaxed: every
 * decision that depends on these values is taken under the lock, which orders them — except the
 * queue's departures, read without the lock (cbatch_queue_*, below). */
static inline int64_t cbatch_atomic_add_i64(int64_t *_Nonnull p, int64_t v) {
    return __atomic_add_fetch(p, v, __ATOMIC_RELAXED);
}
static inline int64_t cbatch_atomic_load_i64(const int64_t *_Nonnull p) {
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}
static inline void cbatch_atomic_store_i64(int64_t *_Nonnull p, int64_t v) {
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}
/* The queue of announced workers as two counters, written once here for every home: `queued`,
 * announcements minus take-backs (atomic adds, without the lock), and `departed`, the workers
 * that stopped counting under the lock (entered, gave up): only the lock's holder writes it, with
 * a plain release store, so entering costs no atomic read-modify-write. The length is
 * queued - departed. Read without the lock, `departed` comes first and with acquire order: a
 * departure seen comes with the announcement it ends (else, on a weakly ordered CPU, a worker
 * taking its own announcement back could see a negative queue), and a stale value only makes the
 * queue look longer for a moment. On x86 the orders cost nothing. The counters may be another
 * process's words (a segment): the arithmetic wraps, the callers clamp. */

/* Adds `delta` to `queued` (lock free); returns the length after it. */
static inline int64_t cbatch_queue_add(int64_t *_Nonnull queued, const int64_t *_Nonnull departed, int64_t delta) {
    uint64_t d = (uint64_t)__atomic_load_n(departed, __ATOMIC_ACQUIRE);
    return (int64_t)((uint64_t)__atomic_add_fetch(queued, delta, __ATOMIC_RELAXED) - d);
}

/* The length now: exact under the lock. */
static inline int64_t cbatch_queue_length(const int64_t *_Nonnull queued, const int64_t *_Nonnull departed) {
    uint64_t d = (uint64_t)__atomic_load_n(departed, __ATOMIC_ACQUIRE);
    return (int64_t)((uint64_t)__atomic_load_n(queued, __ATOMIC_RELAXED) - d);
}

/* Under the lock: one announced worker stops counting; returns the length after it. */
static inline int64_t cbatch_queue_depart(const int64_t *_Nonnull queued, int64_t *_Nonnull departed) {
    uint64_t d = (uint64_t)__atomic_load_n(departed, __ATOMIC_RELAXED) + 1;
    __atomic_store_n(departed, (int64_t)d, __ATOMIC_RELEASE);
    return (int64_t)((uint64_t)__atomic_load_n(queued, __ATOMIC_RELAXED) - d);
}

static inline uint64_t cbatch_atomic_load_u64(const uint64_t *_Nonnull p) {
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}
static inline void cbatch_atomic_store_u64(uint64_t *_Nonnull p, uint64_t v) {
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static inline uint32_t cbatch_atomic_load_u32(const uint32_t *_Nonnull p) {
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
/* Bumps a futex word that a sleeper compares right before FUTEX_WAIT: sequentially consistent. */
static inline uint32_t cbatch_atomic_increment_u32(uint32_t *_Nonnull p) {
    return __atomic_add_fetch(p, 1, __ATOMIC_SEQ_CST);
}

/* A channel's words, so that Swift never passes `&channel.field` as an inout argument: Swift counts
 * that as an access to the whole struct for the length of the call (a FUTEX_WAIT, say), which
 * ThreadSanitizer reports against every other access to the struct. */
static inline uint32_t *_Nonnull cbatch_channel_seq(cbatch_channel *_Nonnull c) { return &c->seq; }
static inline uint32_t *_Nonnull cbatch_channel_sleepers(cbatch_channel *_Nonnull c) { return &c->sleepers; }

/* Monotonic time in nanoseconds (vDSO: tens of ns; read only where a wait is decided). */
static inline int64_t cbatch_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* A pause for a spinning waiter: tells the CPU it spins (less power, and the sibling hardware
 * thread runs). */
static inline void cbatch_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static inline void cbatch_yield(void) { sched_yield(); }

/* The futex condition's system calls. `shared`: 0 for a home of this process (FUTEX_PRIVATE_FLAG,
 * cheaper), 1 for a segment several processes map. Sleeps while `*word == expected`, at most
 * `timeout_ns` (< 0: no timeout). Returns 0 or an errno: ETIMEDOUT, EAGAIN (the word changed),
 * EINTR — all mean "re-check". */
static inline int cbatch_futex_wait(uint32_t *_Nonnull word, uint32_t expected, int64_t timeout_ns, int shared) {
    struct timespec ts = { (time_t)(timeout_ns / 1000000000), (long)(timeout_ns % 1000000000) };
    int op = shared ? FUTEX_WAIT : (FUTEX_WAIT | FUTEX_PRIVATE_FLAG);
    long r = syscall(SYS_futex, word, op, expected, timeout_ns < 0 ? NULL : &ts, NULL, 0);
    return r == 0 ? 0 : errno;
}

/* Wakes one sleeper of `word`, or all of them. */
static inline void cbatch_futex_wake(uint32_t *_Nonnull word, int all, int shared) {
    int op = shared ? FUTEX_WAKE : (FUTEX_WAKE | FUTEX_PRIVATE_FLAG);
    syscall(SYS_futex, word, op, all ? 0x7fffffff : 1, NULL, NULL, 0);
}

/* A nonzero token naming the calling thread within its process: the thread pointer, read inline
 * (pthread_self() is a library call, and the algorithm asks three times per operation). */
static inline uint64_t cbatch_thread_token(void) {
    return (uint64_t)(uintptr_t)__builtin_thread_pointer();
}

#endif /* CBATCHCORE_H */
