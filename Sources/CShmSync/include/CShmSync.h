/*
 * CShmSync — the C shim of BatchIPC. Umbrella header; every symbol is prefixed `cshm_`.
 *
 * Why a C shim: several processes must agree on every byte of a segment (Swift promises no struct
 * layout), and Swift cannot call futex(2), do atomics over memory it does not own, or declare a
 * thread-local variable. Only BatchIPC imports this module; the algorithm's own state is in
 * CBatchCore, which both homes share.
 *
 *   cshm_layout.h   the segment's fixed layout, field by field, and the layout rule
 *   cshm_sync.h     the robust mutex, the futex condition, atomics on the segment's words
 *   cshm_shadow.h   the crash snapshot: a consistent copy of the coaches, saved at phase changes
 *   cshm_thread.h   the per-thread slot cache and the phase hook
 *   cshm_files.h    the file operations behind create, open and unlink
 */
#ifndef CSHMSYNC_H
#define CSHMSYNC_H

#include <CBatchCore.h>

#include "cshm_files.h"
#include "cshm_layout.h"
#include "cshm_shadow.h"
#include "cshm_sync.h"
#include "cshm_thread.h"

#endif /* CSHMSYNC_H */
