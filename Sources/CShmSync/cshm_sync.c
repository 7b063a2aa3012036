/* The non-inline part of the synchronisation primitives, and the per-thread and per-process
 * globals of cshm_thread.h. */
#include "cshm_sync.h"
#include "cshm_thread.h"

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

__thread cshm_tls_entry cshm_tls_cache[CSHM_TLS_ENTRIES] __attribute__((tls_model("initial-exec")));

cshm_phase_hook_fn cshm_phase_hook = 0;
