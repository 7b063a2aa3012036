/*
 * CShmSync — the C shim of swift-batch. Umbrella header; every symbol is prefixed `cshm_`.
 *
 * Why a C shim: the batch state must have a fixed layout that several processes agree on (Swift
 * does not promise struct layout), and Swift cannot do atomics, futexes or robust process-shared
 * mutexes over memory it does not own.
 */
#ifndef CSHMSYNC_H
#define CSHMSYNC_H

#include "cshm_core.h"
#include "cshm_shm.h"

#endif /* CSHMSYNC_H */
