/*
 * cshm_layout.h — the fixed layout of a BatchIPC segment.
 *
 * Offsets are computed once by `cshm_layout` from the capacities and stored in the header; an
 * opener recomputes them and refuses a segment whose stored layout differs. Swift never computes
 * an offset of its own: it asks the accessors below for a field's address.
 *
 *   cshm_header (incl. the robust mutex, the algorithm's cbatch_core, the counters)
 *   cbatch_channel[2 + coaches]        futex sequence word + sleeper count per wait channel
 *   cbatch_coach[coaches]              the algorithm's coaches (contiguous, as the engine wants)
 *   cshm_result[coaches]  (stride)     per coach: outcome status, then result bytes, error text
 *   cshm_slot[slots]                   participant table: one slot per worker thread
 *   cshm_proc[procs]                   process table: one lease per attached process
 *   cshm_shadow[2]        (stride)     last consistent copy of the coaches (crash repair)
 *   state[coaches]        (stride)     per coach: the user's fixed-size state bytes
 *   arena[coaches]        (stride)     per coach: 8-byte used count, then records
 */
#ifndef CSHM_LAYOUT_H
#define CSHM_LAYOUT_H

#include <CBatchCore.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* "swbatch1" read as a little-endian u64. */
#define CSHM_MAGIC 0x3168637461627773ULL
/* Bump whenever any struct below, or the layout rule, changes.
 * 2: cshm_shadow lost its unused copy of cbatch_core. 3: the header holds the waiting policy's
 * measurements (cbatch_policy). 4: a section channel; the shadow saves the holder fields again
 * (an async task may hold the section while the mutex is free). 5: a process entry counts the
 * announcements that stopped counting under the lock apart (`departed`), and fills two lines.
 * 6: the header says who found the segment corrupt (`found_corrupt`). */
#define CSHM_VERSION 6u
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

/* The wait channels are CBatchCore's cbatch_channel (a futex word and a sleeper count): channel 0
 * = waiting to enter, 1 + c = waiting in commit on coach c, 1 + coaches = waiting for the critical
 * section (held by an async task without the mutex). Crash repair recomputes the sleeper counts
 * from the participant table (a dead sleeper must not cost a FUTEX_WAKE for ever). */

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
    /* The phase (WorkerPhase). Written by the owner thread: under the lock for every phase but
     * queued / idle-after-queueOut. Read by crash repair (owner dead) and by stat (racy, relaxed). */
    uint32_t phase;
    /* The coach of phases entered..done, -1 otherwise. Written with `phase`. */
    int32_t coach;
    /* Owner pid (messages, stat). Under the lock. */
    int32_t pid;
    /* Under the lock: the channel the owner sleeps on, -1 when none. */
    int32_t channel;
    uint32_t reserved1;
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
    /* Written under the lock, atomically (the queue length reads it without): 0 free, 1 attached
     * (the lease is held by a live thread, or its owner died). */
    uint32_t state;
    /* Under the lock: bumped on every claim. */
    uint64_t serial;
    /* Announcements (queueIn) by workers of this process minus those taken back (queueOut).
     * Atomic add by those workers, without the lock; zeroed when the entry is claimed, and by
     * crash repair once the process is dead. */
    int64_t queued;
    /* Announcements of this process that stopped counting under the lock: its workers entered,
     * or gave up waiting to enter. Only grows; written under the lock only, by those workers;
     * zeroed with `queued`. The process's part of the queue is queued - departed (both read and
     * written by cbatch_queue_*, CBatchCore.h, which say the orders), and the queue length the
     * sum over the attached processes, so a death at any instant is corrected exactly (a worker
     * announces and enters in the same process). */
    int64_t departed;
    /* Each entry fills two cache lines of its own: processes announce without the lock. */
    uint8_t reserved[56];
} cshm_proc;

/* Last consistent copy of the coaches and the holder fields (see cshm_shadow.h), double-buffered. */
typedef struct cshm_shadow {
    uint32_t slot;        /* 1 + slot of the holder whose phase is saved; 0: none */
    uint32_t phase;
    int32_t coach;
    uint32_t reserved;
    int64_t reserved1;
    cbatch_core core;     /* the holder fields (its queue field is unused) */
    /* followed by cbatch_coach[coaches] */
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
    /* 0 until an async worker first takes part; then 1 for ever: from then on every worker holds
     * the mutex only for a step (a blocking worker holds the critical section without it). Set
     * under the lock; read under it (a process that saw 1 remembers it: see hasAsyncWorkers). */
    uint32_t async_workers;
    /* Under the lock: what the waiting policy measured (CBatchCore.h). Untrusted when read. */
    cbatch_policy policy;
    /* 0; or the pid of the first process that found the segment corrupt and stopped using it
     * (its workers stay counted where they were: the others must stop too, not wait for them).
     * Written once, atomically, without the lock; never cleared. Read by every process after a
     * wait and at attach: any value but 0 is an error. */
    uint32_t found_corrupt;
    uint32_t reserved3;
    uint64_t reserved1[4];          /* puts the mutex on its own cache line */
    /* The robust process-shared mutex guarding everything marked "under the lock". */
    pthread_mutex_t mutex;
    uint8_t reserved2[24];
    /* The algorithm's global state (its queue field is unused: the queue is the sum of the
     * processes' `queued` counters). */
    cbatch_core core;
} cshm_header;

_Static_assert(sizeof(cshm_result) == 24, "cshm_result layout changed: bump CSHM_VERSION");
_Static_assert(sizeof(cshm_slot) == 64, "cshm_slot layout changed: bump CSHM_VERSION");
_Static_assert(sizeof(cshm_proc) == 128, "cshm_proc layout changed: bump CSHM_VERSION");
_Static_assert(sizeof(cshm_shadow) == 48, "cshm_shadow layout changed: bump CSHM_VERSION");
_Static_assert(sizeof(pthread_mutex_t) == 40, "unexpected pthread_mutex_t: bump CSHM_VERSION");
_Static_assert(offsetof(cshm_header, mutex) % 64 == 0, "the mutex must start a cache line");
_Static_assert(offsetof(cshm_header, core) % 64 == 0, "the core must start a cache line");

/* Fills sizes, offsets, strides and total_size of `h` from its capacities. Returns 0, or EINVAL
 * when a capacity is out of range. Creator and opener run the same rule. */
int cshm_layout(cshm_header *_Nonnull h);

/* Field addresses, so that Swift never computes an offset, and never passes `&struct.field` as
 * an inout argument: Swift counts that as an access to the whole struct for the length of the
 * call (a FUTEX_WAIT, say), which ThreadSanitizer reports against every other access. */
static inline pthread_mutex_t *_Nonnull cshm_header_mutex(cshm_header *_Nonnull h) { return &h->mutex; }
static inline cbatch_core *_Nonnull cshm_header_core(cshm_header *_Nonnull h) { return &h->core; }
static inline cbatch_policy *_Nonnull cshm_header_policy(cshm_header *_Nonnull h) { return &h->policy; }
static inline uint32_t *_Nonnull cshm_header_shadow_current(cshm_header *_Nonnull h) { return &h->shadow_current; }
static inline int64_t *_Nonnull cshm_proc_queued(cshm_proc *_Nonnull p) { return &p->queued; }
static inline int64_t *_Nonnull cshm_proc_departed(cshm_proc *_Nonnull p) { return &p->departed; }
static inline pthread_mutex_t *_Nonnull cshm_proc_lease(cshm_proc *_Nonnull p) { return &p->lease; }

#endif /* CSHM_LAYOUT_H */
