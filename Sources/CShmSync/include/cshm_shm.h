/*
 * cshm_shm.h — the shared-memory segment of BatchIPC: its fixed layout, the robust process-shared
 * mutex, the robust condition (a futex sequence word per channel) and the crash snapshot.
 *
 * Why C: several processes must agree on every byte of the segment (Swift promises no struct
 * layout), and Swift cannot call `futex(2)` or do atomics over memory it does not own.
 *
 * Layout (offsets are computed once by `cshm_layout` from the capacities and stored in the
 * header; an opener recomputes them and refuses a segment whose stored layout differs):
 *
 *   cshm_header (incl. the robust mutex, the algorithm's cshm_core, the counters)
 *   cshm_channel[1 + coaches]          futex sequence word + sleeper count per wait channel
 *   cshm_coach[coaches]                the algorithm's coaches (contiguous, as the engine wants)
 *   cshm_result[coaches]  (stride)     per coach: outcome status, then result bytes, error text
 *   cshm_slot[slots]                   participant table: one slot per worker thread
 *   cshm_proc[procs]                   process table: one lease per attached process
 *   cshm_shadow[2]        (stride)     last consistent copy of core + coaches (crash repair)
 *   state[coaches]        (stride)     per coach: the user's fixed-size state bytes
 *   arena[coaches]        (stride)     per coach: 8-byte used count, then records
 */
#ifndef CSHM_SHM_H
#define CSHM_SHM_H

#ifdef __linux__

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cshm_core.h"

/* "swbatch1" read as a little-endian u64. */
#define CSHM_MAGIC 0x3168637461627773ULL
/* Bump whenever any struct below, or the layout rule, changes. */
#define CSHM_VERSION 1u
/* Bytes of error text kept per coach (an error crosses processes as its description). */
#define CSHM_ERROR_TEXT 480u
/* Limits checked on create and on open (they also keep every size computation far from overflow). */
#define CSHM_MAX_COACHES 1024u
#define CSHM_MAX_SLOTS 1024u
#define CSHM_MAX_BYTES (1ull << 32)

/* Outcome status of a coach's result buffer. */
enum {
    CSHM_OUTCOME_NONE = 0,          /* nothing published */
    CSHM_OUTCOME_VALUE = 1,         /* `length` result bytes follow */
    CSHM_OUTCOME_CANCELED = 2,      /* BatchError.canceled */
    CSHM_OUTCOME_ERROR = 3,         /* an error, `length` bytes of its description in `text` */
    CSHM_OUTCOME_CRASHED = 4,       /* BatchError.workerCrashed(pid) */
    CSHM_OUTCOME_UNKNOWN = 5,       /* BatchError.outcomeUnknown(committerPID: pid) */
};

/* One wait channel: channel 0 = waiting to enter, 1 + c = waiting in commit on coach c. */
typedef struct cshm_channel {
    /* Incremented (atomically, under the lock) by every wake; a sleeper waits while it is equal to
     * the value it read under the lock, so a wake between unlock and FUTEX_WAIT is never lost. */
    uint32_t seq;
    /* Under the lock: live threads that may sleep on `seq`. Recomputed from the participant table
     * by crash repair (a dead sleeper must not cost a FUTEX_WAKE for ever). */
    uint32_t sleepers;
} cshm_channel;

/* Per coach: the published outcome. Under the lock. Followed by result bytes, then error text. */
typedef struct cshm_result {
    uint32_t status;      /* CSHM_OUTCOME_*; meaningful only while the coach is `ready` */
    int32_t pid;          /* CRASHED / UNKNOWN: the dead process; otherwise the publisher */
    uint32_t length;      /* VALUE: bytes of value; ERROR: bytes of text */
    uint32_t reserved;
    uint64_t generation;  /* the coach generation it was published for */
} cshm_result;

/* One participant: a worker thread of an attached process. 64 bytes, one cache line. */
typedef struct cshm_slot {
    uint64_t reserved0;
    /* Under the lock: the thread token the engine sees (0: slot free). */
    uint64_t token;
    /* Under the lock: 1 + index of the owner's process entry; 0: free. */
    uint32_t proc;
    /* The phase (_WorkerPhase). Written by the owner thread: under the lock for every phase but
     * queued / idle-after-queueOut. Read by crash repair (owner dead) and by stat (racy, relaxed). */
    uint32_t phase;
    /* The coach of phases entered..done, -1 otherwise. Written with `phase`. */
    int32_t coach;
    /* Owner pid (messages, stat). Under the lock. */
    int32_t pid;
    /* Under the lock: the channel the owner sleeps on, -1 when none. */
    int32_t channel;
    /* Unused (0). Version 1 does not record the mutex holder per slot: core.holder names it. */
    uint32_t holding;
    /* Under the lock: bumped on every claim, part of the token (a reused slot is a new thread). */
    uint32_t serial;
    uint32_t reserved[5];
} cshm_slot;

/* One attached process. */
typedef struct cshm_proc {
    /* Robust process-shared mutex held for the whole attachment by a dedicated thread of the
     * process (the lease thread). trylock → EOWNERDEAD proves that thread, hence the process,
     * died: the kernel marks it from the thread's robust list at exit, so it cannot be fooled by
     * pid reuse. */
    pthread_mutex_t lease;
    /* Under the lock: the owner's pid (messages only, never trusted for liveness). */
    int32_t pid;
    /* Under the lock: 0 free, 1 attached (the lease is held by a live thread, or its owner died). */
    uint32_t state;
    /* Under the lock: bumped on every claim. */
    uint64_t serial;
    /* Announcements (queueIn) by threads of this process not yet entered or taken back. Atomic
     * add by those threads, without the lock; zeroed by crash repair once the process is dead.
     * The queue length is the sum over processes, so a death at any instant is corrected exactly
     * (a worker announces and enters in the same process). */
    int64_t queued;
} cshm_proc;

/* Last consistent copy of the algorithm's state (the coaches; cshm_core needs none, see
 * cshm_checkpoint): taken at each phase change under the lock, double-buffered. When a holder dies mid-step (EOWNERDEAD), the repairer
 * restores it, so the state again matches every participant's recorded phase. */
typedef struct cshm_shadow {
    uint32_t slot;        /* 1 + slot of the holder whose phase is saved; 0: none */
    uint32_t phase;
    int32_t coach;
    uint32_t reserved;
    int64_t reserved1;
    cshm_core core;
    /* followed by cshm_coach[coaches] */
} cshm_shadow;

typedef struct cshm_header {
    uint64_t magic;                 /* CSHM_MAGIC. Immutable after creation. */
    uint32_t version;               /* CSHM_VERSION. Immutable. */
    uint32_t initialised;           /* 1 once fully initialised (always, once the name exists). */
    uint64_t total_size;            /* bytes of the mapping. Immutable. */
    /* sizes of the C primitives, so that a build with another glibc or ABI is refused */
    uint32_t size_header, size_mutex, size_core, size_coach, size_slot, size_proc, size_result,
        size_shadow;
    /* capacities. Immutable. */
    uint32_t coaches, slots, procs, reserved0;
    uint64_t state_size, arena_capacity, result_capacity, liveness_ns;
    /* creator identity. Immutable. */
    uint32_t creator_uid, creator_pid;
    uint64_t pid_namespace;         /* st_ino of /proc/self/ns/pid of the creator */
    /* offsets and strides (cshm_layout). Immutable. */
    uint64_t off_channels, off_coaches, off_results, off_slots, off_procs, off_shadow, off_state,
        off_arena;
    uint64_t stride_result, stride_shadow, stride_state, stride_arena;
    /* Counters: written under the lock (cshm_counter_bump), read by anyone at any time without
     * it (relaxed atomic loads). */
    uint64_t batches;               /* commit functions that returned (value or error) */
    uint64_t served;                /* outcomes handed to workers */
    uint64_t crashes;               /* dead participants repaired */
    uint64_t cancels;               /* batches closed by cancel or a failing worker */
    /* Under the lock: 1 + highest slot index ever claimed (bounds the queue sum). */
    uint32_t slot_high;
    /* Under the lock: which shadow buffer (0/1) is current. */
    uint32_t shadow_current;
    /* Under the lock: 1 + highest process entry ever claimed (bounds the queue sum). */
    uint32_t proc_high;
    uint32_t reserved1a;
    uint64_t reserved1[7];          /* puts the mutex on its own cache line */
    /* The robust process-shared mutex guarding everything marked "under the lock". */
    pthread_mutex_t mutex;
    uint8_t reserved2[24];
    /* The algorithm's global state (queue field unused: the queue is the sum of slot counters). */
    cshm_core core;
} cshm_header;

_Static_assert(sizeof(cshm_channel) == 8, "cshm_channel layout changed: bump CSHM_VERSION");
_Static_assert(sizeof(cshm_result) == 24, "cshm_result layout changed: bump CSHM_VERSION");
_Static_assert(sizeof(cshm_slot) == 64, "cshm_slot layout changed: bump CSHM_VERSION");
_Static_assert(sizeof(cshm_shadow) == 24 + sizeof(cshm_core), "cshm_shadow layout changed");
_Static_assert(offsetof(cshm_header, mutex) == 320, "the mutex must start a cache line");
_Static_assert(offsetof(cshm_header, core) == 384, "the core must start a cache line");
_Static_assert(sizeof(pthread_mutex_t) == 40, "unexpected pthread_mutex_t: bump CSHM_VERSION");

/* Fills sizes, offsets, strides and total_size of `h` from its capacities. Returns 0, or EINVAL
 * when a capacity is out of range. Creator and opener run the same rule. */
int cshm_layout(cshm_header *h);

/* Initialises a robust, process-shared, error-checking-free mutex at `m`. Returns 0 or errno. */
int cshm_mutex_init(pthread_mutex_t *m);

/* st_ino of /proc/self/ns/pid, or 0 when unknown. */
uint64_t cshm_pid_namespace(void);

/* open(dir, O_TMPFILE|O_RDWR, 0600): an unnamed segment file. Returns fd or -errno. */
int cshm_tmpfile(const char *dir);
/* Gives the unnamed file `fd` the name `path` atomically; fails with -EEXIST if it exists. */
int cshm_link(int fd, const char *path);
/* shm_open(name, O_RDWR, 0) without O_CREAT. Returns fd or -errno. */
int cshm_open(const char *name);
/* pipe2(fds, O_CLOEXEC): Swift's Glibc module does not see pipe2 (it needs _GNU_SOURCE), and a
 * pipe made with pipe() + fcntl leaks into processes spawned by other threads in between. */
int cshm_pipe_cloexec(int fds[2]);
/* shm_unlink. Returns 0 or -errno. */
int cshm_unlink(const char *name);

/* Locks, retrying EINTR-free; returns 0, EOWNERDEAD or another errno. */
static inline int cshm_mutex_lock(pthread_mutex_t *m) { return pthread_mutex_lock(m); }
static inline int cshm_mutex_trylock(pthread_mutex_t *m) { return pthread_mutex_trylock(m); }
static inline int cshm_mutex_unlock(pthread_mutex_t *m) { return pthread_mutex_unlock(m); }
static inline int cshm_mutex_consistent(pthread_mutex_t *m) { return pthread_mutex_consistent(m); }

/* The robust condition. Shared (not _PRIVATE) futex ops, so that they work across processes. */
static inline int cshm_futex_wait(uint32_t *word, uint32_t expected, int64_t timeout_ns) {
    struct timespec ts = { (time_t)(timeout_ns / 1000000000), (long)(timeout_ns % 1000000000) };
    long r = syscall(SYS_futex, word, FUTEX_WAIT, expected, &ts, NULL, 0);
    return r == 0 ? 0 : errno; /* ETIMEDOUT, EAGAIN (changed), EINTR: all mean "re-check" */
}
/* Before a futex wait: yields the CPU up to `yields` times while `*word == expected`; returns 1
 * when it changed (a wake came: no need to sleep), 0 otherwise. With more runnable processes
 * than CPUs the yield runs the very processes whose progress the waiter waits for (the rest of
 * its batch), and a wake that comes meanwhile costs neither a FUTEX_WAIT nor the wake-up of a
 * sleeping process. BatchIPC starts yielding only when the wake is a few steps of other workers
 * away, never once a commit function runs (see SharedSegment.wakeIsNear, yieldBudget). */
static inline int cshm_yield_until_changed(uint32_t *word, uint32_t expected, int yields, int64_t budget_ns) {
    /* Bounded in count and in time: with unrelated CPU-bound processes about, one yield may give
     * away a whole time slice, and the waiter looks for dead participants only once it wakes. */
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
static inline void cshm_futex_wake(uint32_t *word, int all) {
    syscall(SYS_futex, word, FUTEX_WAKE, all ? 0x7fffffff : 1, NULL, NULL, 0);
}

static inline uint32_t cshm_atomic_add_u32(uint32_t *p, uint32_t v) {
    return __atomic_add_fetch(p, v, __ATOMIC_SEQ_CST);
}
static inline uint32_t cshm_atomic_load_u32(const uint32_t *p) {
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}
static inline void cshm_atomic_store_u32(uint32_t *p, uint32_t v) {
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}
static inline void cshm_atomic_store_u32_release(uint32_t *p, uint32_t v) {
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}
static inline uint64_t cshm_atomic_add_u64(uint64_t *p, uint64_t v) {
    return __atomic_add_fetch(p, v, __ATOMIC_RELAXED);
}
/* A counter written only under the segment mutex and read by anyone: a relaxed load and store,
 * not a locked read-modify-write (the mutex already serialises the writers). */
static inline void cshm_counter_bump(uint64_t *p) {
    __atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}
static inline void cshm_atomic_store_i32(int32_t *p, int32_t v) {
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}
static inline int32_t cshm_atomic_load_i32(const int32_t *p) {
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Field-by-field copies with loads of each field's own width: the fields were just written by
 * narrower or wider stores, and one wide load spanning several pending stores cannot be served
 * by store forwarding (a stall of ~15 cycles per copy, measured: a third of the phase change). */
#define CSHM_LOAD(p) __atomic_load_n(&(p), __ATOMIC_RELAXED)
static inline void cshm_copy_core(cshm_core *to, cshm_core *from) {
    to->queue = CSHM_LOAD(from->queue);
    to->holder = CSHM_LOAD(from->holder);
    to->holder_coach = CSHM_LOAD(from->holder_coach);
    to->holder_state = CSHM_LOAD(from->holder_state);
}
static inline void cshm_copy_coach(cshm_coach *to, cshm_coach *from) {
    to->count = CSHM_LOAD(from->count);
    to->generation = CSHM_LOAD(from->generation);
    to->triggered = CSHM_LOAD(from->triggered);
    to->ready = CSHM_LOAD(from->ready);
}

/* Where the shadows, coaches and slots of a mapping are: computed once by the opener from the
 * validated header and cached in process memory, so that checkpoints and repair never re-read an
 * offset or a capacity from the segment (another process could change it after validation), and
 * the hot path does not touch the header's lines, which other processes write (counters). */
typedef struct cshm_shadow_ref {
    uint8_t *shadow[2];      /* the two shadow buffers */
    cshm_coach *coaches;     /* the live coaches */
    cshm_slot *slots;        /* the participant slots */
    uint32_t *current;       /* &header->shadow_current: which shadow is current; under the lock */
    uint32_t ncoaches, nslots;
} cshm_shadow_ref;

/* Saves the coaches (+ the phase and coach just recorded for `slot_index`, passed in rather
 * than re-read for the same reason) into the spare shadow buffer, then flips.
 * `slot_index` >= slots: no slot is saved (repair, attach). */
static inline void cshm_checkpoint(const cshm_shadow_ref *r, uint32_t slot_index, uint32_t phase, int32_t coach) {
    uint32_t next = *r->current ^ 1u;
    cshm_shadow *s = (cshm_shadow *)r->shadow[next & 1u];
    if (slot_index < r->nslots) {
        s->slot = slot_index + 1;
        s->phase = phase;
        s->coach = coach;
    } else {
        s->slot = 0;
    }
    /* cshm_core is not saved: its queue field is unused here and crash repair clears the holder
     * fields (whenever the mutex is free nobody holds the critical section). */
    cshm_coach *to = (cshm_coach *)(s + 1);
    if (r->ncoaches == 1) {
        cshm_copy_coach(to, r->coaches); /* a Coordinator: no loop */
    } else {
        for (uint32_t c = 0; c < r->ncoaches; c++) cshm_copy_coach(&to[c], &r->coaches[c]);
    }
    __atomic_store_n(r->current, next, __ATOMIC_RELEASE);
}

/* Under the lock: the calling worker (slot `slot_index`) enters `phase` in `coach`. The
 * checkpoint comes first, with the new phase, then the slot: a holder dying in between leaves a
 * checkpoint that names its new phase, which repair restores into the slot. */
static inline void cshm_note_locked(const cshm_shadow_ref *r, uint32_t slot_index, uint32_t phase, int32_t coach) {
    cshm_checkpoint(r, slot_index, phase, coach);
    /* The slot's stores must not be moved above the checkpoint's flip by the compiler (SIGKILL
     * stops between two instructions; the CPU's own order does not matter to this thread). */
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (slot_index >= r->nslots) return; /* never: the index is the caller's own slot */
    cshm_slot *slot = r->slots + slot_index;
    __atomic_store_n(&slot->phase, phase, __ATOMIC_RELAXED);
    __atomic_store_n(&slot->coach, coach, __ATOMIC_RELAXED);
}

/* 1 + the slot whose phase the current shadow saved, 0 if none. */
static inline uint32_t cshm_shadow_slot(const cshm_shadow_ref *r) {
    const cshm_shadow *s = (const cshm_shadow *)r->shadow[*r->current & 1u];
    return (s->slot == 0 || s->slot > r->nslots) ? 0 : s->slot;
}

/* Restores the current shadow (a holder died mid-step): the coaches, and when `slot_too` the
 * saved slot's phase and coach (only when that slot's owner is dead too). */
static inline void cshm_restore(const cshm_shadow_ref *r, int slot_too) {
    cshm_shadow *s = (cshm_shadow *)r->shadow[*r->current & 1u];
    if (slot_too && s->slot != 0 && s->slot <= r->nslots) {
        cshm_slot *slot = r->slots + (s->slot - 1);
        slot->phase = s->phase;
        slot->coach = s->coach;
    }
    cshm_coach *from = (cshm_coach *)(s + 1);
    for (uint32_t c = 0; c < r->ncoaches; c++) cshm_copy_coach(&r->coaches[c], &from[c]);
}

/* Byte offset of cshm_proc.queued (asserted in cshm_shm.c), a literal for Swift's hot path. */
#define CSHM_PROC_QUEUED_OFFSET 56

/* Test hook called at each phase change (BatchIPC's `_phaseHook`). A C global, so that reading it
 * on the hot path costs a load (a Swift static would go through lazy initialisation). */
typedef void (*cshm_phase_hook_fn)(uint32_t phase);
extern cshm_phase_hook_fn cshm_phase_hook;
static inline cshm_phase_hook_fn cshm_get_phase_hook(void) { return cshm_phase_hook; }
static inline void cshm_set_phase_hook(cshm_phase_hook_fn hook) { cshm_phase_hook = hook; }

/* Per-thread cache of this thread's participant slot in each open mapping (by mapping serial;
 * serials are never reused). A C thread-local because Swift has none; a pthread key with a
 * destructor (in Swift) releases the slots when the thread exits. */
#define CSHM_TLS_ENTRIES 16
typedef struct cshm_tls_entry {
    uint64_t serial; /* 0: empty */
    int64_t slot;
    uint64_t token;  /* the slot's token (cshm_slot.token), fixed while the thread holds the slot */
} cshm_tls_entry;
/* initial-exec: a plain %fs-relative access, no __tls_get_addr call (the module is linked into
 * the executable, or into a library loaded at start). */
extern __thread cshm_tls_entry cshm_tls_cache[CSHM_TLS_ENTRIES] __attribute__((tls_model("initial-exec")));
static inline cshm_tls_entry *cshm_tls(void) { return cshm_tls_cache; }

#endif /* __linux__ */
#endif /* CSHM_SHM_H */
