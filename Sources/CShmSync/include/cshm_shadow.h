/*
 * cshm_shadow.h — the crash snapshot.
 *
 * Invariant: whenever the segment mutex is free, the current shadow equals the algorithm's state:
 * the coaches and the holder fields of cbatch_core (an async task may hold the critical section
 * while the mutex is free). Every engine path that changes them under the lock records a phase
 * (cshm_note_locked, which saves a snapshot) after its last change and before unlocking, or saves
 * a snapshot alone where no phase changes (a trigger, leave: the homes' stateChanged); paths that
 * change nothing need none; crash repair saves one at its end. (A worker that entered an empty
 * coach and keeps the mutex records its phases in process memory only until it releases the
 * mutex or changes the state in place: nobody else can see that batch, and its death undoes it —
 * DESIGN.md, "a batch nobody else saw".) When a holder of the mutex
 * dies mid-step (EOWNERDEAD), the repairer restores the shadow, so that the state again matches
 * every participant's recorded phase.
 */
#ifndef CSHM_SHADOW_H
#define CSHM_SHADOW_H

#include <CBatchCore.h>
#include <stdint.h>

#include "cshm_layout.h"
#include "cshm_thread.h"

/* Where the shadows, coaches and slots of a mapping are: computed once by the opener from the
 * validated header and cached in process memory, so that checkpoints and repair never re-read an
 * offset or a capacity from the segment (another process could change it after validation), and
 * the hot path does not touch the header's lines, which other processes write (counters). */
typedef struct cshm_shadow_ref {
    uint8_t *shadow[2];      /* the two shadow buffers */
    cbatch_coach *coaches;   /* the live coaches */
    cshm_slot *slots;        /* the participant slots */
    cbatch_core *core;       /* the live holder fields */
    uint32_t *current;       /* &header->shadow_current: which shadow is current; under the lock */
    uint32_t ncoaches, nslots;
} cshm_shadow_ref;

/* A field-by-field copy with loads of each field's own width: the fields were just written by
 * narrower or wider stores, and one wide load spanning several pending stores cannot be served
 * by store forwarding (a stall of ~15 cycles per copy, measured: a third of the phase change). */
#define CSHM_LOAD(p) __atomic_load_n(&(p), __ATOMIC_RELAXED)
static inline void cshm_copy_coach(cbatch_coach *to, cbatch_coach *from) {
    to->count = CSHM_LOAD(from->count);
    to->generation = CSHM_LOAD(from->generation);
    to->triggered = CSHM_LOAD(from->triggered);
    to->ready = CSHM_LOAD(from->ready);
}

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
    s->core.holder = CSHM_LOAD(r->core->holder);
    s->core.holder_coach = CSHM_LOAD(r->core->holder_coach);
    s->core.holder_state = CSHM_LOAD(r->core->holder_state);
    cbatch_coach *to = (cbatch_coach *)(s + 1);
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
    cshm_phase_hook_fn hook = cshm_get_checkpoint_hook();
    if (__builtin_expect(hook != 0, 0)) hook(phase);
    cshm_slot *slot = r->slots + slot_index;
    __atomic_store_n(&slot->phase, phase, __ATOMIC_RELAXED);
    __atomic_store_n(&slot->coach, coach, __ATOMIC_RELAXED);
}

/* 1 + the slot whose phase the current shadow saved, 0 if none. */
static inline uint32_t cshm_shadow_slot(const cshm_shadow_ref *r) {
    const cshm_shadow *s = (const cshm_shadow *)r->shadow[*r->current & 1u];
    return (s->slot == 0 || s->slot > r->nslots) ? 0 : s->slot;
}

/* Restores the current shadow (a holder died mid-step): the coaches, the holder fields, and when
 * `slot_too` the saved slot's phase and coach (when that slot is still taken: see repair). */
static inline void cshm_restore(const cshm_shadow_ref *r, int slot_too) {
    cshm_shadow *s = (cshm_shadow *)r->shadow[*r->current & 1u];
    if (slot_too && s->slot != 0 && s->slot <= r->nslots) {
        cshm_slot *slot = r->slots + (s->slot - 1);
        /* Atomic: the slot may be a live owner's, who records queued/idle without the lock. */
        __atomic_store_n(&slot->phase, s->phase, __ATOMIC_RELAXED);
        __atomic_store_n(&slot->coach, s->coach, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&r->core->holder, s->core.holder, __ATOMIC_RELAXED);
    r->core->holder_coach = s->core.holder_coach;
    r->core->holder_state = s->core.holder_state;
    cbatch_coach *from = (cbatch_coach *)(s + 1);
    for (uint32_t c = 0; c < r->ncoaches; c++) cshm_copy_coach(&r->coaches[c], &from[c]);
}

#endif /* CSHM_SHADOW_H */
