/* The layout rule of a segment: creator and opener run the same one. */
#include "cshm_layout.h"

#include <errno.h>

static uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

int cshm_layout(cshm_header *h) {
    if (h->coaches < 1 || h->coaches > CSHM_MAX_COACHES) return EINVAL;
    if (h->slots < 1 || h->slots > CSHM_MAX_SLOTS) return EINVAL;
    if (h->procs < 1 || h->procs > CSHM_MAX_SLOTS) return EINVAL;
    if (h->state_size > CSHM_MAX_BYTES || h->arena_capacity > CSHM_MAX_BYTES
        || h->result_capacity > CSHM_MAX_BYTES)
        return EINVAL;
    h->size_header = sizeof(cshm_header);
    h->size_mutex = sizeof(pthread_mutex_t);
    h->size_core = sizeof(cbatch_core);
    h->size_coach = sizeof(cbatch_coach);
    h->size_slot = sizeof(cshm_slot);
    h->size_proc = sizeof(cshm_proc);
    h->size_result = sizeof(cshm_result);
    h->size_shadow = sizeof(cshm_shadow);
    uint64_t c = h->coaches;
    uint64_t off = round_up(sizeof(cshm_header), 64);
    h->off_channels = off;
    off = round_up(off + (c + 2) * sizeof(cbatch_channel), 64);
    h->off_coaches = off;
    off = round_up(off + c * sizeof(cbatch_coach), 64);
    h->stride_result = round_up(sizeof(cshm_result) + h->result_capacity + CSHM_ERROR_TEXT, 64);
    h->off_results = off;
    off += c * h->stride_result;
    h->off_slots = off;
    off = round_up(off + (uint64_t)h->slots * sizeof(cshm_slot), 64);
    h->off_procs = off;
    off = round_up(off + (uint64_t)h->procs * sizeof(cshm_proc), 64);
    h->stride_shadow = round_up(sizeof(cshm_shadow) + c * sizeof(cbatch_coach), 64);
    h->off_shadow = off;
    off += 2 * h->stride_shadow;
    h->stride_state = round_up(h->state_size, 64);
    h->off_state = off;
    off += c * h->stride_state;
    h->stride_arena = round_up(8 + h->arena_capacity, 64);
    h->off_arena = off;
    off += c * h->stride_arena;
    h->total_size = off;
    return 0;
}
