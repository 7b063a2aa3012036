/*
 * cshm_thread.h — what BatchIPC keeps per thread and per process in C, because Swift has no
 * thread-local variables and a Swift static on the hot path goes through lazy initialisation.
 */
#ifndef CSHM_THREAD_H
#define CSHM_THREAD_H

#include <stdint.h>

/* Per-thread cache of this thread's participant slot in each open mapping (by mapping serial;
 * serials are never reused). A pthread key with a destructor (in Swift) releases the slots when
 * the thread exits. */
#define CSHM_TLS_ENTRIES 16
typedef struct cshm_tls_entry {
    uint64_t serial; /* 0: empty */
    int64_t slot;
    uint64_t token;  /* the slot's token (cshm_slot.token), fixed while the thread holds the slot */
    /* This thread's announcements in the mapping (+1 queueIn, -1 leaving the queue): what tells
     * a misuse (entering unannounced) from a process counter another process overwrote. */
    int64_t queued;
} cshm_tls_entry;
/* initial-exec: a plain %fs-relative access, no __tls_get_addr call (the module is linked into
 * the executable, or into a library loaded at start). */
extern __thread cshm_tls_entry cshm_tls_cache[CSHM_TLS_ENTRIES] __attribute__((tls_model("initial-exec")));
static inline cshm_tls_entry *cshm_tls(void) { return cshm_tls_cache; }

/* The phase hook (SharedSegment.phaseHook): called at each phase change of a worker of this
 * process with the phase's raw value. A C global, so that reading it on the hot path is a load. */
typedef void (*cshm_phase_hook_fn)(uint32_t phase);
extern cshm_phase_hook_fn cshm_phase_hook;
/* Relaxed atomics (a plain load on x86-64): a hook may be set while workers run. */
static inline cshm_phase_hook_fn cshm_get_phase_hook(void) { return __atomic_load_n(&cshm_phase_hook, __ATOMIC_RELAXED); }
static inline void cshm_set_phase_hook(cshm_phase_hook_fn hook) { __atomic_store_n(&cshm_phase_hook, hook, __ATOMIC_RELAXED); }

#endif /* CSHM_THREAD_H */
