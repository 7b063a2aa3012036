/*
 * batch.pml — the batching engine of swift-batch and its crash repair, in Promela.
 *
 * What is modelled is the code as it is (see model/README.md for the table that maps every inline
 * below to the Swift function it stands for: Sources/Batch/Engine, Blocking, BatchIPC/Sync). One
 * worker per process; each worker runs OPS operations in a closed loop: queue in, enter, add its
 * item, commit (or cancel, throw, leave), exit. A lock-held stretch of the code is one atomic block (nobody else can touch what the lock
 * guards meanwhile); lock-free steps (queueIn, queueOut, the futex wait and wake, the commit
 * function) are separate steps. A worker may die (SIGKILL) at every crash point CP, including in
 * the middle of a lock-held step and in the middle of a crash repair.
 *
 * Configuration (spin -D...):
 *   NW          workers (= processes), 2..4                              default 3
 *   NC          coaches, 1 (Coordinator) or 2 (Multi)                    default 1
 *   OPS         operations per worker                                    default 2
 *   OPS0        operations of worker 0                                   default OPS
 *   MAXCRASH    deaths per run                                           default 0
 *   VICTIMS     workers that may die (0..VICTIMS-1)                      default NW
 *   BALANCER    Multi with a balancer: it picks any free coach, or refuses (MAXREFUSE times
 *               per run at most); without it, the first free coach
 *   MAXREFUSE   times the balancer may refuse a free coach, per run      default 0
 *   LOCALHOME   the in-process home (private futex channels, no sleep limit, no crash, no
 *               snapshot); otherwise the shared-memory home (the same futex channels in the
 *               segment, sleeps bounded by the liveness period, snapshot, crash repair)
 *   SPURIOUS    waits may end at any time (futex timeout = liveness period, EINTR, a yielding
 *               waiter); without it a wait ends only on a wake, at its deadline (the adaptive
 *               policy's waits), or on the liveness period while a dead participant waits to
 *               be repaired (so that lost wake-ups are found)
 *   EARLY       the adaptive waiting policy: its *when* is a nondeterministic choice (a worker
 *               waiting for announced workers may commit at any commitStep, or wait until a
 *               deadline; a batch smaller than the previous one may wait for just-served peers
 *               until a deadline — the model does not track the previous batch: any batch may).
 *               Without it, the strict rule (the Go original's): wait for every announced worker
 *   WITH_INPLACE the commit function may run in place (commitsInPlace: a commit cheaper than a
 *               lock handover runs holding the section and the mutex)
 *   WITH_NONBLOCK, WITH_LEAVE (queueOut + notify before entering; leave() inside), WITH_CANCEL,
 *   WITH_THROW (a throw inside poisons the batch), WITH_TRIGGER, WITH_COMMITERR (the commit
 *   function throws), WITH_ASYNCCANCEL (a task cancelled while it waits to enter)
 *   API_ONLY    only the properties a user can see (outcomes, triggers, batching, the queue,
 *               hangs), not the invariants of the state (p_count, p_coach_reset, p_snapshot,
 *               p_clean_end): the mutation runs show what a seeded bug does to the users
 *   M_*         seeded bugs (mutations), one at a time; see check.sh and README
 */

#ifndef NW
#define NW 3
#endif
#ifndef NC
#define NC 1
#endif
#ifndef OPS
#define OPS 2
#endif
#ifndef OPS0
#define OPS0 OPS         /* worker 0's operations (it may come back more often than the others) */
#endif
#ifndef MAXCRASH
#define MAXCRASH 0
#endif
#ifndef VICTIMS
#define VICTIMS NW       /* workers 0..VICTIMS-1 may die (1 suffices for one death: the workers
                            are symmetric) */
#endif
#ifndef MAXREFUSE
#define MAXREFUSE 0
#endif

#define NCH (NC + 2)     /* channels: 0 = waiting to enter, 1 + c = waiting in commit on coach c,
                            NC + 1 = waiting for the critical section */
#define SECCH (NC + 1)   /* _BatchEngine.sectionChannel */
#define NOC 255          /* no coach */

/* WorkerPhase (Sources/Batch/Engine/WorkerPhase.swift); the slot's recorded phase */
#define IDLE       0
#define QUEUED     1
#define ENTERED    2
#define WAITING    3
#define COMMITTING 4
#define DONE       5

/* outcome status of a coach's result buffer (CSHM_OUTCOME_*), plus who produced an error */
#define O_NONE     0
#define O_VALUE    1     /* the commit function returned */
#define O_CANCELED 2     /* cancel() */
#define O_FAILED   3     /* BatchError.workerFailed: a worker threw inside (poison) */
#define O_ERROR    4     /* the commit function threw */
#define O_CRASHED  5     /* BatchError.workerCrashed */
#define O_UNKNOWN  6     /* BatchError.outcomeUnknown */

/* where a worker is in its operation (the driver's next step) */
#define S_TOENTER      1   /* take the lock and run enter()'s loop: the section, enterStep */
#define S_ENTERED      2   /* (enterStep's answers, within a stretch) */
#define S_WAITENTER    3
#define S_BUSY         4
#define S_DOCOMMIT     5   /* run commitStep */
#define S_BACKINCOMMIT 6   /* back from a wait in commit: re-take the lock, then the section */
#define S_WAITCOMMIT   7   /* (commitStep's answer, within a stretch) */
#define S_COMMIT       8   /* run the commit function, without the lock */
#define S_PUBLISH      9   /* re-take the lock and the section, and publish */
#define S_READY       10
#define S_DOCANCEL    11   /* close the batch with `kind` */
#define S_DONE        12   /* has its outcome: note(.done) and read it */
#define S_DOEXIT      13   /* exit() */
#define S_EXITED      14
#define S_LEAVEQUEUE  15   /* queueOut() before entering */
#define S_ACANCEL     16   /* async cancellation before entering */
#define S_NOTIFY      17   /* notify() */
#define S_WAIT        18   /* registered on a channel, the mutex released: FUTEX_WAIT next */
#define S_SLEEP       19   /* in FUTEX_WAIT (asleep unless the word moved); then back to `back` */
#define S_COMMITHELD  20   /* run the commit function in place, holding the mutex */
#define S_PUBLISHHELD 21   /* publish, the mutex still held */

/* ---------------------------------------------------------------- the algorithm's state */

byte  mtx;             /* the home's mutex: 0 free, else 1 + the pid of its holder. A dead
                          holder leaves it held: the next lock gets EOWNERDEAD */
short q[NW];           /* the queue: per-process announcement counters (cshm_proc.queued);
                          queueLength is their sum */
short cnt[NC];         /* cshm_coach.count: >= 0 filling with count inside, < 0 closed */
bit   trig[NC];        /* cshm_coach.triggered */
bit   ready[NC];       /* cshm_coach.ready */
byte  outc[NC];        /* the coach's result buffer: status */
bit   outTag[NC];      /* ghost: the result buffer was written for the coach's current batch
                          (cleared when the coach empties; the code tags results with the
                          generation, which the model leaves out) */
byte  holder;          /* core.holder: 1 + the pid holding the critical section, 0 none (a
                          token names a slot; one slot per worker, never reused here) */
byte  holderCoach;     /* core.holder_coach */
byte  holderState;     /* core.holder_state (_HolderState): 0 none, 1 inside, 2 decided (the
                          keepsLock bit is always set: the section is the lock) */

/* the participant slots (one per worker) */
byte  phase[NW];       /* cshm_slot.phase */
byte  scoach[NW];      /* cshm_slot.coach, + 1 (0: -1) */
byte  wch[NW + 1];       /* cshm_slot.channel, + 1 (0: -1): where it is registered as a sleeper */
bit   slotOwned[NW];   /* cshm_slot.proc != 0 */
bit   procState[NW];   /* cshm_proc.state == 1: attached, not yet repaired */

/* the shared-memory home's robust condition */
byte  sleepers[NCH];   /* cshm_channel.sleepers */
bit   chg[NW + 1];     /* the channel's sequence word moved since this waiter read it */
bit   asleep[NW + 1];  /* inside FUTEX_WAIT */
byte  owe1[NW + 1];    /* _FutexChannels.pendingWakes[0] (of the process): FUTEX_WAKE(1) owed,
                          bit n for channel n */
byte  oweAll[NW + 1];  /* pendingWakes[1]: FUTEX_WAKE(all) owed */

/* the crash snapshot (cshm_shadow; the double buffer makes a checkpoint atomic) */
short shCnt[NC];
bit   shTrig[NC];
bit   shReady[NC];
byte  shSlot;          /* 1 + the slot whose phase is saved, 0 none */
byte  shPhase;
byte  shCoach;
byte  shHolder;        /* the holder fields of cbatch_core */
byte  shHolderCoach;
byte  shHolderState;

/* the world */
bit   dead[NW];        /* the process was killed */
bit   leaseGone[NW];   /* ... and the kernel has marked its lease (may come later) */
byte  crashes;
byte  refusals;
byte  finished;        /* workers that ended (normally or dead) */

/* ---------------------------------------------------------------- ghost state (not in the code) */

bit   announced[NW];   /* between queueIn() and the end of the enter() it was for (entered,
                          busy, refused by the balancer) or queueOut(); a dead worker's until
                          its announcements are dropped by the repair */
byte  api[NW];         /* the recorded phase as crash repair will see it (set at the checkpoint
                          for lock-held phase changes) */
byte  items[NC];       /* bit w: worker w added its item to the current batch */
byte  committedItems[NC]; /* the items the commit function saw */
byte  commitsRun[NC];  /* commit functions run for the current batch */
byte  fnRes[NC];       /* what the current batch's commit function produced */
bit   gTrig[NC];       /* trigger() was called in the current batch */
bit   poisonMark[NC];  /* a worker died inside the current filling batch, before its outcome */
bit   unknownMark[NC]; /* the current batch's committer died before its outcome was published */
byte  firstRead[NC];   /* the outcome the first reader of the current batch got */
byte  deadItems[NC];   /* bit w: worker w died waiting in commit: its item is in the batch */
byte  memberOf[NW];    /* 1 + the coach the worker is inside (entered, not exited; a dead one
                          until its slot is repaired), 0 none */

/* the properties: each is a bit that a check clears just before it asserts it, so that spin
   names the property that failed ("assertion violated p_...") */
bit p_same_batch = 1;          /* a worker reads the outcome of its own batch */
bit p_same_outcome = 1;        /* every worker of a batch reads the same outcome */
bit p_outcome_published = 1;   /* nobody reads an outcome that was not published */
bit p_commit_once = 1;         /* the commit function runs at most once per batch */
bit p_success = 1;             /* success => the commit function of this batch ran once, returned,
                                  and saw this worker's item */
bit p_poisoned = 1;            /* a worker died inside the filling batch => the others get
                                  workerCrashed */
bit p_unknown = 1;             /* the committer died => the others get outcomeUnknown */
bit p_crash_justified = 1;     /* workerCrashed / outcomeUnknown only after such a death */
bit p_trigger_fresh = 1;       /* a commit because of `triggered` follows a trigger() in this batch */
bit p_waits_for_announced = 1; /* a commit because the queue is empty leaves no live announced
                                  worker behind (the strict rule: batches form) */
bit p_queue_count = 1;         /* queue >= 0, and 0 when nobody is announced */
bit p_coach_reset = 1;         /* mutex free: a coach nobody is in is neither triggered nor
                                  ready, and a ready coach is closed */
bit p_snapshot = 1;            /* mutex free: the snapshot equals the coaches */
bit p_engine_pre = 1;          /* the engine's preconditions (a trap in Swift) */
bit p_dead_waiter = 1;          /* success => the items of the workers that died waiting in
                                  commit in this batch were committed with it */
bit p_count = 1;               /* mutex free: a coach's |count| is the number of workers inside */
bit p_check_passes = 1;        /* after a restore, the table check finds the state sound (a
                                  failed one reports a corrupt segment to the users) */
bit p_clean_end = 1;           /* once every worker ended and the next user repaired the dead,
                                  the coaches, the section and the queue are as new */

#define CHECK(name, cond)  name = (cond); assert(name)

#define IN(w, x)    (memberOf[w] == (x) + 1)
#define ABS(v)      ((v) >= 0 -> (v) : -(v))
#if NW == 2
#define MEMBERS(x)  (IN(0, x) + IN(1, x))
#define QSUM        (q[0] + q[1])
#define ANN(w)      (w != me && announced[w] && !dead[w])
#define NOANN       (!ANN(0) && !ANN(1))
#define ANYANN      (announced[0] || announced[1])
#define DEADPENDING ((dead[0] && leaseGone[0] && procState[0]) || (dead[1] && leaseGone[1] && procState[1]))
#elif NW == 3
#define MEMBERS(x)  (IN(0, x) + IN(1, x) + IN(2, x))
#define QSUM        (q[0] + q[1] + q[2])
#define ANN(w)      (w != me && announced[w] && !dead[w])
#define NOANN       (!ANN(0) && !ANN(1) && !ANN(2))
#define ANYANN      (announced[0] || announced[1] || announced[2])
#define DEADPENDING ((dead[0] && leaseGone[0] && procState[0]) || (dead[1] && leaseGone[1] && procState[1]) || (dead[2] && leaseGone[2] && procState[2]))
#else
#define MEMBERS(x)  (IN(0, x) + IN(1, x) + IN(2, x) + IN(3, x))
#define QSUM        (q[0] + q[1] + q[2] + q[3])
#define ANN(w)      (w != me && announced[w] && !dead[w])
#define NOANN       (!ANN(0) && !ANN(1) && !ANN(2) && !ANN(3))
#define ANYANN      (announced[0] || announced[1] || announced[2] || announced[3])
#define DEADPENDING ((dead[0] && leaseGone[0] && procState[0]) || (dead[1] && leaseGone[1] && procState[1]) || (dead[2] && leaseGone[2] && procState[2]) || (dead[3] && leaseGone[3] && procState[3]))
#endif

/* isFree: filling and not triggered (the count's Int64.max guard is left out) */
#define HOLDER_EQ     (shHolder == holder && shHolderCoach == holderCoach && shHolderState == holderState)
#if NC == 1
#define COUNTS_OK     (ABS(cnt[0]) == MEMBERS(0))
#define COACHES_CLEAN ((cnt[0] != 0 || (!trig[0] && !ready[0])) && (!ready[0] || cnt[0] < 0))
#define SHADOW_EQ     (shCnt[0] == cnt[0] && shTrig[0] == trig[0] && shReady[0] == ready[0] && HOLDER_EQ)
#define ENDCLEAN      (cnt[0] == 0 && !trig[0] && !ready[0] && holder == 0)
#define FREE(x)       (cnt[x] >= 0 && !trig[x])
#else
#define COUNTS_OK     (ABS(cnt[0]) == MEMBERS(0) && ABS(cnt[1]) == MEMBERS(1))
#define COACHES_CLEAN ((cnt[0] != 0 || (!trig[0] && !ready[0])) && (!ready[0] || cnt[0] < 0) && \
                       (cnt[1] != 0 || (!trig[1] && !ready[1])) && (!ready[1] || cnt[1] < 0))
#define SHADOW_EQ     (shCnt[0] == cnt[0] && shTrig[0] == trig[0] && shReady[0] == ready[0] && \
                       shCnt[1] == cnt[1] && shTrig[1] == trig[1] && shReady[1] == ready[1] && HOLDER_EQ)
#define ENDCLEAN      (cnt[0] == 0 && !trig[0] && !ready[0] && cnt[1] == 0 && !trig[1] && !ready[1] && holder == 0)
#define FREE(x)       (cnt[x] >= 0 && !trig[x])
#endif

/* a crash point: the worker may be killed here (DIE, below) */
#if MAXCRASH > 0
#define CANDIE (canDie && crashes < MAXCRASH)
#define CP  if :: CANDIE -> DIE() :: true -> skip fi
#else
#define CANDIE false
#define CP  skip
#endif

/* a wait may end without a wake: always (SPURIOUS), or after the liveness period when a dead
   participant is waiting to be repaired (the shared-memory home's timed futex wait; the
   in-process home sleeps without a limit). A wait with a deadline (`timed`) ends at it. */
#ifdef SPURIOUS
#define TIMEOUT_OK true
#elif defined(LOCALHOME)
#define TIMEOUT_OK false
#else
#define TIMEOUT_OK DEADPENDING
#endif

#ifdef BALANCER
#undef BALANCER
#define BALANCER true
#else
#define BALANCER false
#endif

#ifdef WITH_ASYNCCANCEL
#define ASYNCCANCEL true
#else
#define ASYNCCANCEL false
#endif


/* SIGKILL, at once: the process is gone (a mutex it holds is left to EOWNERDEAD, its futex
   waits vanish); the ghost notes what its death must do to its batch (the crash table: dead
   inside a filling batch => poisoned; dead committer => outcome unknown). The kernel marks its
   lease later (at `died`). */
inline DIE() {
    crashes++; dead[me] = 1; asleep[me] = 0;
    if
    :: unrec ->
        /* its phases since it entered are unrecorded (noteKeepingLock): the restore undoes its
           batch. Spec: that is right when nobody else is in the batch (DESIGN.md, "a batch
           nobody else saw"); with others in it (only a seeded bug does that), its death is
           what its phase says, as for a recorded one */
        rc = 0;
        for (x : 0 .. NW - 1) { if :: x != me && memberOf[x] == c + 1 -> rc++ :: else fi }
        if
        :: rc == 0 -> GHOST_BATCH_END(c)
        :: else ->
            poisonMark[c] = poisonMark[c] | (lph == ENTERED);
            unknownMark[c] = unknownMark[c] | (lph == COMMITTING)
        fi;
        memberOf[me] = 0
    :: else ->
        poisonMark[c] = poisonMark[c] | (api[me] == ENTERED);
        unknownMark[c] = unknownMark[c] | (api[me] == COMMITTING);
        deadItems[c] = deadItems[c] | ((api[me] == WAITING) << me)
    fi;
    goto died
}

#ifdef WITH_INPLACE
#define INPLACE true
#else
#define INPLACE false
#endif

/* ---------------------------------------------------------------- wait and wake */

/* _FutexChannels.wake(channel, all:) under the lock (both homes: LocalHome and SharedSegment
   call it): when a sleeper may exist, bump the channel's sequence word (every registered waiter
   sees it moved) and owe a FUTEX_WAKE, issued after the unlock (issueOwedWakes). */
inline WAKE(ch, all) {
    if
    :: sleepers[ch] > 0 ->
        for (i : 0 .. NW - 1) { if :: wch[i] == ch + 1 -> chg[i] = 1 :: else fi }
        if
        :: all -> oweAll[me] = oweAll[me] | (1 << ch)
        :: else -> owe1[me] = owe1[me] | (1 << ch)
        fi
    :: else
    fi
}

/* FUTEX_WAKE(seq word of ch, 1 or all), not under the lock: wakes sleepers inside FUTEX_WAIT
   (a dead sleeper is gone from the futex queue) */
inline FUTEX_WAKE(ch, all) {
    atomic {
        CP;
        if
        :: all ->
            for (i : 0 .. NW - 1) { if :: asleep[i] && wch[i] == ch + 1 -> asleep[i] = 0 :: else fi }
        :: else ->
            if
            :: asleep[0] && wch[0] == ch + 1 -> asleep[0] = 0
            :: asleep[1] && wch[1] == ch + 1 -> asleep[1] = 0
#if NW > 2
            :: asleep[2] && wch[2] == ch + 1 -> asleep[2] = 0
#endif
#if NW > 3
            :: asleep[3] && wch[3] == ch + 1 -> asleep[3] = 0
#endif
            :: else -> skip
            fi
        fi
    }
}

/* the invariants of a free mutex, checked whenever it is released (the coaches, the shadow and
   the slots change only under it; a dead holder's state is checked after the repair) */
inline CHECK_FREE() {
    CHECK(p_queue_count, QSUM >= 0 && (ANYANN || QSUM == 0));
#ifndef API_ONLY
    CHECK(p_coach_reset, COACHES_CLEAN);
    CHECK(p_count, COUNTS_OK);
#endif
#if !defined(LOCALHOME) && MAXCRASH > 0 && !defined(API_ONLY)
    CHECK(p_snapshot, SHADOW_EQ)
#else
    skip
#endif
}

/* unlock(): take the owed wakes, release the mutex (issueOwedWakes follows, a step per channel) */
inline UNLOCK() {
    o1 = owe1[me]; oa = oweAll[me]; owe1[me] = 0; oweAll[me] = 0;
    mtx = 0;
    CHECK_FREE()
}

/* _BatchEngine.wakeOtherCommitters(except:) */
inline WAKE_OTHERS(skipc) {
    if
    :: NC == 1 && skipc == 0 -> skip
    :: else ->
        for (x : 0 .. NC - 1) { if :: x != skipc -> WAKE(1 + x, 0) :: else fi }
    fi
}

/* ---------------------------------------------------------------- the critical section */

/* takeSection(me, coach:, state: .inside, keepsLock: true) */
inline TAKE_SECTION() {
    holder = me + 1; holderCoach = c; holderState = 1
}

/* releaseSection(): holder = 0 (holder_coach and holder_state stay), wake one section waiter */
inline RELEASE_SECTION() {
    holder = 0; WAKE(SECCH, 0)
}

/* passOnSection() */
inline PASS_ON_SECTION() {
    if :: holder == 0 -> WAKE(SECCH, 0) :: else fi
}

/* sectionHolderGone() */
inline SECTION_HOLDER_GONE() {
    holder = 0; holderState = 0; holderCoach = 0; WAKE(SECCH, 1)
}

/* ---------------------------------------------------------------- the snapshot */

/* cshm_checkpoint(slot w, phase, coach): the coaches and the holder fields, and the slot's new
   phase (cc: coach + 1, 0 for -1) */
inline CHECKPOINT_SLOT(w, ph, cc) {
#if !defined(LOCALHOME) && MAXCRASH > 0
    for (x : 0 .. NC - 1) { shCnt[x] = cnt[x]; shTrig[x] = trig[x]; shReady[x] = ready[x] }
    shHolder = holder; shHolderCoach = holderCoach; shHolderState = holderState;
    shSlot = w + 1; shPhase = ph; shCoach = cc;
#endif
    skip
}

/* the calling worker's checkpoint (+ the ghost: the phase crash repair will see) */
inline CHECKPOINT(ph, cc) {
    CHECKPOINT_SLOT(me, ph, cc);
    api[me] = ph;
    if :: ph == ENTERED -> memberOf[me] = cc :: ph == IDLE -> memberOf[me] = 0 :: else fi
}

/* cshm_checkpoint(shadowRef, UInt32.max, 0, -1): repair's checkpoints, no slot saved */
inline CHECKPOINT_NONE() {
    for (x : 0 .. NC - 1) { shCnt[x] = cnt[x]; shTrig[x] = trig[x]; shReady[x] = ready[x] }
    shHolder = holder; shHolderCoach = holderCoach; shHolderState = holderState;
    shSlot = 0
}

/* SharedSegment.note(phase, coach:, slot:) under the lock → cshm_note_locked: checkpoint with
   the new phase, then the slot's phase, then its coach (cc: coach + 1, 0 for -1) */
inline NOTE_LOCKED(ph, cc) {
    unrec = 0; lph = ph;
    CHECKPOINT(ph, cc); CP;
    phase[me] = ph; CP;
    scoach[me] = cc
}

/* _SharedHome.noteKeepingLock(ph, coach:, token:, beginsBatch:) → SharedSegment.noteKeepingLock:
   a worker that keeps the mutex until its next phase change. Entering an empty coach (`begins`)
   starts an unrecorded stretch: the phase goes to process memory only (`unrec`, `lph`:
   localSections.unrecorded, localPhases), the slot and the snapshot stay as before it entered;
   so do its later phases kept this way. Otherwise it is NOTE_LOCKED. */
inline NOTE_KEEPING_LOCK(ph, cc, begins) {
    if
#ifdef M_UNRECORDED_JOINED
    /* seeded bug: a worker that joins a batch others are in leaves it unrecorded too */
    :: ph == ENTERED ->
#else
    :: (ph == ENTERED && begins) ->
#endif
        unrec = 1; lph = ph; memberOf[me] = cc   /* ghost: inside */
    :: (ph != ENTERED && unrec) -> lph = ph
    :: else -> NOTE_LOCKED(ph, cc)
    fi
}

/* _SharedHome.stateChanged() → SharedSegment.stateChanged(slot:): the snapshot again after a
   change in place (a trigger) — with the holder's own phase if it left it unrecorded */
inline STATE_CHANGED() {
    if
#ifndef M_STATECHANGED_NO_RECORD
    :: unrec -> NOTE_LOCKED(lph, c + 1)
#endif
    :: else -> CHECKPOINT_NONE()
    fi
}

/* ---------------------------------------------------------------- engine steps */

/* _BatchEngine.close(coach:_:) + publishClosing + markReady (ready, wakePublished: wake all) */
inline CLOSE(xc, kind) {
    CHECK(p_engine_pre, cnt[xc] > 0);
    cnt[xc] = -cnt[xc]; CP;
    outc[xc] = kind; outTag[xc] = 1; CP;
    ready[xc] = 1; WAKE(1 + xc, 1)
}

/* _BatchEngine.publish(_:coach:took:): home.publish, markReady */
inline PUBLISH(xc, what) {
    outc[xc] = what; outTag[xc] = 1; CP;
    ready[xc] = 1; WAKE(1 + xc, 1)
}

/* ghost: the coach is empty, its batch is over (committed, cancelled or dropped) */
inline GHOST_BATCH_END(xc) {
    items[xc] = 0; committedItems[xc] = 0; commitsRun[xc] = 0; fnRes[xc] = 0; outTag[xc] = 0;
    gTrig[xc] = 0; poisonMark[xc] = 0; unknownMark[xc] = 0; firstRead[xc] = O_NONE; deadItems[xc] = 0
}

/* _BatchEngine.exitStep(coach:) */
inline EXIT_STEP(xc) {
    if
    :: cnt[xc] > 0 ->
        /* leaving a filling batch */
        cnt[xc]--;
        if
        :: cnt[xc] == 0 ->
#ifndef M_TRIGGER_LEAK
            trig[xc] = 0;
#endif
            GHOST_BATCH_END(xc)
        :: else -> WAKE(1 + xc, 0)
        fi
    :: cnt[xc] == 0 -> skip   /* nothing to leave */
    :: cnt[xc] < 0 ->
        cnt[xc]++;
        if
        :: cnt[xc] == 0 ->
            /* the last one out resets the coach */
            ready[xc] = 0; trig[xc] = 0;   /* (and generation += 1: not modelled) */
#ifdef LOCALHOME
            outc[xc] = O_NONE;   /* resetOutcome; the shared home keeps the buffer (ready guards it) */
#endif
            WAKE(0, 1);
            GHOST_BATCH_END(xc)
        :: else
        fi
    fi
}

/* ---------------------------------------------------------------- crash repair */

#if !defined(LOCALHOME) && MAXCRASH > 0

/* SharedSegment.reclaim's loop body for the slot of worker w: the engine's
   participantDied(in:coach:pid:token:) (its row of the crash table; a dead holder of the
   section leaves it), then cshm_note_locked(slot, idle, -1), then freeSlot */
inline REPAIR_SLOT(w) {
    rc = scoach[w]; rph = phase[w];
    rhold = (holder == w + 1);
    /* diedInBatch */
    if
    :: rc != 0 && rph >= ENTERED ->
        if
        :: rph == ENTERED ->
            /* entered, before its outcome (its change may be half done): poison the batch */
#ifndef M_NO_POISON
            if :: cnt[rc - 1] > 0 -> CLOSE(rc - 1, O_CRASHED) :: else fi
#else
            skip
#endif
        :: rph == COMMITTING ->
            /* the committer died before publishing: outcome unknown */
#ifndef M_NO_UNKNOWN
            if :: cnt[rc - 1] < 0 && !ready[rc - 1] -> PUBLISH(rc - 1, O_UNKNOWN) :: else fi
#else
            skip
#endif
        :: else    /* waiting (its data is in the batch), done: only its exit */
        fi;
        CP;
#ifdef M_DEAD_WAITER_NO_EXIT
        if :: rph != WAITING && cnt[rc - 1] != 0 -> EXIT_STEP(rc - 1) :: else fi
#else
        if :: cnt[rc - 1] != 0 -> EXIT_STEP(rc - 1) :: else fi
#endif
    :: else
    fi;
    if :: rhold -> CP; SECTION_HOLDER_GONE() :: else fi;
    rhold = 0;
    CP;
#ifndef M_FREE_BEFORE_CHECKPOINT
    /* recorded idle with a snapshot of the repaired coaches, before the slot is freed */
    CHECKPOINT_SLOT(w, IDLE, 0);
    memberOf[w] = 0;   /* ghost: its exit is counted in the snapshot too */
    CP;
    phase[w] = IDLE; CP;
    scoach[w] = 0; CP;
#endif
    /* freeSlot */
    phase[w] = IDLE; CP;
    scoach[w] = 0; wch[w] = 0; slotOwned[w] = 0;
    memberOf[w] = 0;   /* ghost: the participant is gone */
    rc = 0; rph = 0
}

/* SharedSegment.reclaim(process:engine:died:) */
inline RECLAIM(p) {
    /* queued, or waiting to enter: its announcements stop counting */
    q[p] = 0; announced[p] = 0;
    CP;
    if :: slotOwned[p] -> REPAIR_SLOT(p) :: else fi;
    procState[p] = 0;
    CP
}

/* SharedSegment.repair(ownerDied:), with eownerdead a variable: 1 after EOWNERDEAD */
inline REPAIR(eownerdead) {
    deadSet = 0; hp = NOC;
    for (p : 0 .. NW - 1) {
        if :: procState[p] && p != me && leaseGone[p] -> deadSet = deadSet | (1 << p) :: else fi
    }
    if
    :: eownerdead ->
        /* EOWNERDEAD proves that the holder of the mutex died: if it held the section
           (core.holder names its slot) its process is dead, lease marked or not */
        if
        :: holder != 0 && holder - 1 != me && slotOwned[holder - 1] && !((deadSet >> (holder - 1)) & 1) ->
            hp = holder - 1; deadSet = deadSet | (1 << hp)
        :: else
        fi;
#ifndef M_NO_RESTORE
        /* cshm_restore: the coaches, the holder fields, and the saved slot's phase when its
           owner is among the dead */
        if
#ifdef M_RESTORE_SLOT_ONLY_DEAD
        /* seeded bug (the code before the fix): only when the slot's owner is known dead */
        :: shSlot != 0 && slotOwned[shSlot - 1] && ((deadSet >> (shSlot - 1)) & 1) ->
#else
        /* whenever the saved slot is still taken (README, Found) */
        :: shSlot != 0 && slotOwned[shSlot - 1] ->
#endif
            phase[shSlot - 1] = shPhase; scoach[shSlot - 1] = shCoach;
            if :: shPhase == IDLE -> memberOf[shSlot - 1] = 0 :: else fi   /* ghost: as recorded */
        :: else
        fi;
        for (x : 0 .. NC - 1) { cnt[x] = shCnt[x]; trig[x] = shTrig[x]; ready[x] = shReady[x] };
        holder = shHolder; holderCoach = shHolderCoach; holderState = shHolderState;
#endif
        CP;
#ifdef M_HOLDER_CLEARED_EARLY
        /* seeded bug (the code before the fix): the holder is forgotten right after the
           restore, before it is repaired (or asked about) */
        CP; holder = 0; holderState = 0; holderCoach = 0;
#endif
        /* a holder that no slot names any more leaves the section */
        if :: holder != 0 && !slotOwned[holder - 1] -> SECTION_HOLDER_GONE() :: else fi;
#ifndef M_HOLDER_BEFORE_RESTORE_ONLY
        /* asked again of the snapshot: the dead holder may have given the section up after it
           (the section is the lock: a holder in the snapshot held the mutex since) */
        if
        :: hp == NOC && holder != 0 && holder - 1 != me && slotOwned[holder - 1] && !((deadSet >> (holder - 1)) & 1) ->
            hp = holder - 1; deadSet = deadSet | (1 << hp)
        :: else
        fi;
#endif
        /* checkState: the section is the lock, so only a dead process can hold it now; a
           failed check is an error every later op of this process reports */
        CHECK(p_check_passes, holder == 0 || ((deadSet >> (holder - 1)) & 1));
        rwake = 1
    :: else
    fi;
    if
    :: deadSet != 0 ->
        /* in the order found: the marked leases, then the dead holder */
        for (p : 0 .. NW - 1) {
            if :: ((deadSet >> p) & 1) && p != hp -> RECLAIM(p) :: else fi
        }
        if :: hp != NOC -> p = hp; RECLAIM(p) :: else fi;
        rwake = 1
    :: else
    fi;
    if
    :: rwake ->
        /* recomputeSleepers, wakeEveryone, checkpoint */
        for (x : 0 .. NCH - 1) { sleepers[x] = 0 }
        for (i : 0 .. NW - 1) { if :: slotOwned[i] && wch[i] != 0 -> sleepers[wch[i] - 1]++ :: else fi }
        for (rc : 0 .. NCH - 1) { WAKE(rc, 1) }
        CHECKPOINT_NONE()
    :: else
    fi;
    deadSet = 0; rwake = 0; rc = 0; hp = 0; p = 0
}
#endif

/* SharedSegment.lock() (repair on EOWNERDEAD, then pthread_mutex_consistent); after a wait,
   _FutexHome.wait's end: endWait (sleepers - 1), didWait → afterWait (slot channel -1,
   repair(ownerDied: false)). The caller puts it first in an atomic block. */
inline LOCK() {
    if
    :: (mtx == 0 || dead[mtx - 1]) -> ownerDied = (mtx != 0); mtx = me + 1
    :: CANDIE -> DIE()     /* killed while blocked in (or before) pthread_mutex_lock */
    fi;
#if !defined(LOCALHOME) && MAXCRASH > 0
    do
    :: ownerDied || wch[me] != 0 ->
        if
        :: ownerDied -> ownerDied = 0; rmode = 1
        :: else ->
            if :: sleepers[wch[me] - 1] > 0 -> sleepers[wch[me] - 1]-- :: else fi;
            wch[me] = 0; chg[me] = 0; asleep[me] = 0; rmode = 0;
            CP
        fi;
        REPAIR(rmode)
    :: else -> break
    od;
    rmode = 0
#else
    if
    :: wch[me] != 0 ->
        if :: sleepers[wch[me] - 1] > 0 -> sleepers[wch[me] - 1]-- :: else fi;
        wch[me] = 0; chg[me] = 0; asleep[me] = 0
    :: else
    fi
#endif
}

/* ---------------------------------------------------------------- the driver */

/* _FutexHome.wait(plan), first half, under the lock: prepareWait (sleepers + 1, the word's
   value now), willWait (the slot's channel), unlock; `resume` is where the driver's loop goes
   on once the lock is retaken */
inline WAIT_REGISTER(ch, resume) {
    sleepers[ch]++; wch[me] = ch + 1; chg[me] = 0;
    back = resume; step = S_WAIT;
    UNLOCK()
}

/* the balancer (or the first free coach); isFree: filling and not triggered */
inline FIND_CHOICE() {
#if NC == 1
    if :: FREE(0) -> choice = 0; anyFree = 1 :: else fi
#else
    anyFree = (FREE(0) || FREE(1));
    if
    :: BALANCER && anyFree ->
        /* _Balancer.fill, then the user's pick among the free coaches; anything else refuses */
        if
        :: FREE(0) -> choice = 0
        :: FREE(1) -> choice = 1
        :: refusals < MAXREFUSE -> refusals++
        fi
    :: else ->
        if
        :: FREE(0) -> choice = 0
        :: else -> if :: FREE(1) -> choice = 1 :: else fi
        fi
    fi
#endif
}

/* _BatchEngine.enterStep(blocking:queued:balancer:yieldCap:) */
inline ENTER_STEP() {
    choice = NOC; anyFree = 0; refusedNow = 0;
    FIND_CHOICE();
    if
    :: choice != NOC ->
        if
        :: queued ->
            queued = 0; q[me]--;
#ifndef M_NO_WAKE_OTHERS
            if :: QSUM == 0 -> WAKE_OTHERS(choice) :: else fi
#else
            skip
#endif
        :: else
        fi;
        announced[me] = 0;
        step = S_ENTERED
    :: else ->
#ifndef M_REFUSED_STAYS_QUEUED
        if
        :: queued && (!blocking || anyFree) -> queued = 0; q[me]--; WAKE_OTHERS(NOC)
        :: else
        fi;
#else
        if
        :: queued && !blocking -> queued = 0; q[me]--; WAKE_OTHERS(NOC)
        :: else
        fi;
#endif
        if :: !blocking || anyFree -> announced[me] = 0 :: else fi;
        refusedNow = anyFree;
        if :: blocking -> step = S_WAITENTER :: else -> step = S_BUSY fi
    fi
}

/* _BatchEngine.commitStep(coach:patience:yieldCap:canCommitInPlace:), for a Coordinator or a
   Multi (no serial commits). The waiting policy's *when* is nondeterministic (EARLY). */
inline COMMIT_STEP() {
    timed = 0;
    if
    :: ready[c] -> step = S_READY                                   /* isPublished */
    :: !ready[c] && cnt[c] < 0 -> step = S_WAITCOMMIT               /* waitForCommitter */
    :: !ready[c] && cnt[c] >= 0 && trig[c] ->
        CHECK(p_trigger_fresh, gTrig[c]);
        step = S_COMMIT
    :: !ready[c] && cnt[c] >= 0 && !trig[c] && QSUM > 0 ->
        /* waitForAnnounced: strict waits until they are in */
        if
        :: step = S_WAITCOMMIT
#ifdef EARLY
        :: step = S_WAITCOMMIT; timed = 1   /* adaptive: until since + one commit's cost */
        :: step = S_COMMIT                  /* adaptive: that deadline passed, or a commit cheaper
                                               than a lock handover */
#endif
        fi
    :: !ready[c] && cnt[c] >= 0 && !trig[c] && QSUM <= 0 ->
        if
        :: true ->
            CHECK(p_waits_for_announced, NOANN);
            step = S_COMMIT
#ifdef EARLY
        :: cnt[c] >= 1 -> step = S_WAITCOMMIT; timed = 1   /* waitForPeer (adaptive: a batch
                                               smaller than the previous one, any size here) */
#endif
        fi
    fi;
    if
    :: step == S_COMMIT -> cnt[c] = -cnt[c]; committedItems[c] = items[c]   /* closeForCommit */
    :: else
    fi
}

/* the engine's result(coach:), read by a worker, with the checks on what it got */
inline READ_OUTCOME() {
    res = outc[c];
    CHECK(p_outcome_published, res != O_NONE);
    CHECK(p_same_batch, outTag[c]);
    CHECK(p_same_outcome, firstRead[c] == O_NONE || firstRead[c] == res);
    firstRead[c] = res;
    CHECK(p_poisoned, !poisonMark[c] || res == O_CRASHED);
    CHECK(p_unknown, !unknownMark[c] || res == O_UNKNOWN);
    CHECK(p_crash_justified, (res != O_CRASHED || poisonMark[c]) && (res != O_UNKNOWN || unknownMark[c]));
    CHECK(p_success, res != O_VALUE || (fnRes[c] == O_VALUE && commitsRun[c] == 1 && ((committedItems[c] >> me) & 1)));
    CHECK(p_dead_waiter, res != O_VALUE || (committedItems[c] & deadItems[c]) == deadItems[c]);
    res = 0
}

/* enter()'s .entered case (count += 1 is in enterStep): takeSection, note(.entered); then the
   user's closure inside the batch: it adds its item, maybe triggers, and commits, cancels,
   throws or leaves */
inline ENTERED_REGION() {
    CP;
    c = choice; idx = cnt[c]; cnt[c]++; CP;
    TAKE_SECTION(); CP;
    CHECK(p_engine_pre, idx > 0 || (items[c] == 0 && !outTag[c]));   /* index 0: a new batch */
    /* noteKeepingLock(.entered, beginsBatch: index == 0): the section is the lock */
    NOTE_KEEPING_LOCK(ENTERED, c + 1, idx == 0);
    idx = 0;
    /* inside: add to the shared state */
    CP;
    items[c] = items[c] | (1 << me);
    CP;
    if
    :: step = S_DOCOMMIT
#ifdef WITH_TRIGGER
    :: trig[c] = 1; gTrig[c] = 1; CP; STATE_CHANGED(); CP; step = S_DOCOMMIT   /* trigger() → triggerStep */
    :: trig[c] = 1; gTrig[c] = 1; CP; STATE_CHANGED(); CP; step = S_DOEXIT
#endif
#ifdef WITH_CANCEL
    :: step = S_DOCANCEL; kind = O_CANCELED
#endif
#ifdef WITH_THROW
    :: step = S_DOCANCEL; kind = O_FAILED   /* _enterAndRun's catch: poison with workerFailed */
#endif
#ifdef WITH_LEAVE
    :: step = S_DOEXIT                      /* section.leave(), or return without an outcome */
#endif
    fi
}

/* One lock-held stretch of a worker, from taking the lock to releasing it (or dying, or going
   on to run the commit function in place): what it does depends on `step`, set by the lock-free
   part before. The stages below run in this order within one atomic block, each only when
   `step` says so. */
inline LOCKED_STRETCH() {
    if
    :: step == S_SLEEP ->
        step = back; back = 0; timed = 0;
        if :: step == S_TOENTER -> wasWaiting = 1 :: else fi
    :: else
    fi;
    if
    :: step == S_PUBLISHHELD -> skip   /* in place: the mutex is still held */
    :: else -> LOCK()
    fi;
    /* enter(): the loop of the blocking driver */
    if
    :: step == S_TOENTER ->
        if
        :: ASYNCCANCEL && wasWaiting ->
            /* a task cancelled while it waited to enter: passOnSection if it waited for the
               section, release; then `if queued { leaveBeforeEntering() }` */
            if :: waitedSec -> PASS_ON_SECTION() :: else fi;
            waitedSec = 0;
            UNLOCK(); step = S_ACANCEL
        :: true ->
            if
            :: holder != 0 && holder != me + 1 ->
                /* sectionHeldByOther: wait for the section */
                waitedSec = 1; WAIT_REGISTER(SECCH, S_TOENTER)
            :: else ->
                ENTER_STEP();
                if
                :: step == S_ENTERED -> waitedSec = 0; ENTERED_REGION()
                :: step == S_BUSY ->
                    if :: waitedSec -> PASS_ON_SECTION() :: else fi;
                    waitedSec = 0;
                    /* note(.idle, coach: -1): the slot only, no checkpoint */
                    phase[me] = IDLE; api[me] = IDLE; CP;
                    UNLOCK()
                :: step == S_WAITENTER ->
                    if :: waitedSec -> PASS_ON_SECTION() :: else fi;
                    waitedSec = 0;
                    WAIT_REGISTER(0, S_TOENTER)
                fi
            fi
        fi
    :: else
    fi;
    wasWaiting = 0;
    /* commit(): back from a wait, or from the commit function: retakeSection (waiting while
       another holds it), then publish */
    if
    :: step == S_BACKINCOMMIT || step == S_PUBLISH ->
        if
        :: holder != 0 && holder != me + 1 -> WAIT_REGISTER(SECCH, step)
        :: else ->
            TAKE_SECTION(); CP;
            if :: step == S_PUBLISH -> PUBLISH(c, res); res = 0; CP :: else fi;
            step = S_DOCOMMIT
        fi
    :: step == S_PUBLISHHELD -> PUBLISH(c, res); res = 0; CP; step = S_DOCOMMIT
    :: else
    fi;
    /* commit(): commitStep and its three answers */
    if
    :: step == S_DOCOMMIT ->
        CHECK(p_engine_pre, holder == me + 1 && holderState == 1);
        COMMIT_STEP();
        if
        :: step == S_READY -> holderState = 2; CP; step = S_DONE
        :: step == S_WAITCOMMIT ->
            RELEASE_SECTION(); CP;
            NOTE_LOCKED(WAITING, c + 1); CP;
            WAIT_REGISTER(1 + c, S_BACKINCOMMIT)
        :: step == S_COMMIT ->
            if
            :: INPLACE ->
                /* .commit(inPlace: true): note (noteKeepingLock), keep the section and the mutex */
                NOTE_KEEPING_LOCK(COMMITTING, c + 1, 0); CP;
                step = S_COMMITHELD
            :: true ->
                RELEASE_SECTION(); CP;
                NOTE_LOCKED(COMMITTING, c + 1); CP;
                UNLOCK()
            fi
        fi
    :: else
    fi;
    /* cancel() → cancelStep: close the batch with the error, decided, note(.done), result */
    if
    :: step == S_DOCANCEL ->
        CHECK(p_engine_pre, holderState == 1);
        CLOSE(c, kind); CP;
        holderState = 2; CP;
        step = S_DONE
    :: else
    fi;
    /* commit() or cancel() returns the outcome: note(.done), result(coach:) */
    if
    :: step == S_DONE ->
        /* takeOutcome: after a commit in place, noteKeepingLock; after cancel, note */
        if
        :: kind == 0 -> NOTE_KEEPING_LOCK(DONE, c + 1, 0)
        :: else -> NOTE_LOCKED(DONE, c + 1)
        fi;
        kind = 0;
        READ_OUTCOME(); CP;
        /* back in the closure: it may still throw (no poison: it has its outcome) */
        step = S_DOEXIT
    :: else
    fi;
    /* exit() → exitSectionStep: exitStep, holder_state none, releaseSection, note(.idle); unlock */
    if
    :: step == S_DOEXIT ->
        CHECK(p_engine_pre, holder == me + 1 && holderCoach == c && cnt[c] != 0);
        EXIT_STEP(c); CP;
        holderState = 0; CP;
        RELEASE_SECTION(); CP;
        NOTE_LOCKED(IDLE, 0); CP;
        UNLOCK();
        step = S_EXITED
    :: else
    fi;
    /* notify(): wake a committer per coach and everyone waiting to enter */
    if
    :: step == S_NOTIFY ->
        WAKE_OTHERS(NOC); WAKE(0, 1); CP;
        UNLOCK();
        step = S_EXITED
    :: else
    fi
}

/* ---------------------------------------------------------------- the workers */

active [NW] proctype Worker() {
    byte me = _pid;
    bit canDie = (_pid < VICTIMS);
    byte ops, c, idx, choice, step, back, kind, res, o1, oa, deadSet, hp, p, x, i, rc, rph, lph;
    bit queued, blocking, anyFree, refusedNow, ownerDied, wasWaiting, rmode, rwake, rhold, timed, waitedSec, unrec;

    slotOwned[me] = 1; procState[me] = 1;   /* attached (reserveSlot + attach), once */
    /* One loop; each option is one step of the worker, guarded by where it is (`step`). */
    do
    :: atomic { step == 0 && ((me == 0 && ops < OPS0) || (me != 0 && ops < OPS)) ->
        /* queueIn(): one atomic add on this process's counter, then the phase, no lock (one
           step here: a death between the two differs only in the crash counter) */
        CP;
        q[me]++; announced[me] = 1;
        CHECK(p_queue_count, QSUM >= 0);
        phase[me] = QUEUED; api[me] = QUEUED;
        blocking = 1; queued = 1; step = S_TOENTER;
        if
        :: true
#ifdef WITH_NONBLOCK
        :: blocking = 0
#endif
#ifdef WITH_LEAVE
        :: queued = 0; step = S_LEAVEQUEUE     /* the ticket dropped without entering */
#endif
        fi;
#ifdef M_LEAVE_QUEUE_EARLY
        /* seeded bug, the Go seed: Enter takes the worker out of the queue before it waits */
        if :: step == S_TOENTER -> q[me]--; queued = 0 :: else fi
#endif
        }
    :: atomic { (o1 | oa) != 0 ->
        /* issueOwedWakes, after an unlock: the FUTEX_WAKEs owed, one channel at a time */
        x = 0;
        do :: ((o1 | oa) >> x) & 1 -> break :: else -> x++ od;
        FUTEX_WAKE(x, (oa >> x) & 1);
        o1 = o1 & ~(1 << x); oa = oa & ~(1 << x); x = 0
        }
    :: atomic { (o1 | oa) == 0 &&
                (step == S_TOENTER || step == S_PUBLISH || step == S_PUBLISHHELD || step == S_NOTIFY ||
                 (step == S_SLEEP && !refusedNow && (asleep[me] == 0 || timed || TIMEOUT_OK))) ->
        /* take the lock and run a lock-held stretch (woken, at a deadline, or after the
           liveness period) */
        LOCKED_STRETCH()
        }
    :: atomic { (o1 | oa) == 0 && step == S_WAIT ->
        /* FUTEX_WAIT: sleep unless the sequence word moved since the waiter read it */
        CP;
#ifdef M_SEQ_AFTER_UNLOCK
        chg[me] = 0;    /* seeded bug: the sequence word is read only now, after the unlock */
#endif
        if :: !chg[me] -> asleep[me] = 1 :: else fi;
        step = S_SLEEP
        }
    :: step == S_SLEEP && refusedNow ->
        /* refused by the balancer while coaches were free: asked again when a coach frees, on
           notify(), or never (the balancer's own choice): a valid place to wait for ever */
end_refused:
        if
        :: asleep[me] == 0
        :: TIMEOUT_OK -> asleep[me] = 0
        fi;
        refusedNow = 0
    :: atomic { (o1 | oa) == 0 && (step == S_COMMIT || step == S_COMMITHELD) ->
        /* the commit function: without the lock, or in place (holding it) */
        CP;
        CHECK(p_commit_once, commitsRun[c] == 0);
        commitsRun[c]++;
        if
        :: fnRes[c] = O_VALUE
#ifdef WITH_COMMITERR
        :: fnRes[c] = O_ERROR
#endif
        fi;
        res = fnRes[c];
        if :: step == S_COMMIT -> step = S_PUBLISH :: else -> step = S_PUBLISHHELD fi
        }
    :: atomic { (o1 | oa) == 0 && (step == S_LEAVEQUEUE || step == S_ACANCEL) ->
        /* left before entering: queueOut() (then notify()); a task cancelled before it
           entered: `if queued { leaveBeforeEntering() }` */
        CP;
        if
        :: step == S_LEAVEQUEUE || queued ->
            q[me]--; announced[me] = 0; phase[me] = IDLE; api[me] = IDLE;
            step = S_NOTIFY
        :: else -> step = S_EXITED   /* not queued any more: nothing to take back, nobody to tell */
        fi;
        CHECK(p_queue_count, QSUM >= 0 && (ANYANN || QSUM == 0));
        queued = 0
        }
    :: atomic { (o1 | oa) == 0 && (step == S_EXITED || step == S_BUSY) ->
        /* the operation is over */
        ops++; step = 0; c = 0; queued = 0; blocking = 0; anyFree = 0; refusedNow = 0; choice = 0
        }
    :: atomic { step == 0 && !((me == 0 && ops < OPS0) || (me != 0 && ops < OPS)) ->
        finished++; api[me] = IDLE; ops = 0; break
        }
    od;
    goto end_worker;

died:
    atomic {
        ops = 0; c = 0; idx = 0; choice = 0; step = 0; back = 0; kind = 0; res = 0; o1 = 0; oa = 0;
        deadSet = 0; hp = 0; p = 0; x = 0; i = 0; rc = 0; rph = 0; lph = 0;
        queued = 0; blocking = 0; anyFree = 0; refusedNow = 0; ownerDied = 0;
        wasWaiting = 0; rmode = 0; rwake = 0; rhold = 0; timed = 0; waitedSec = 0; unrec = 0
    }
    /* the kernel marks the lease of the dead process (its lease thread's robust list) */
    atomic { leaseGone[me] = 1; finished++ }
end_worker:
    skip
}

/* The next user of the coordinator, once every worker ended: takes the lock (repairing a dead
   holder) and looks for dead participants, like any waiter after its liveness period. Then the
   coordinator must be as new. */
active proctype Final() {
    byte me = NW;
    bit canDie = 0;
    byte c, deadSet, hp, p, x, i, rc, rph, o1, oa, lph;
    bit ownerDied, rmode, rwake, rhold, unrec;

end_final:
    finished == NW;     /* (a valid end state: a worker may wait forever for a balancer) */
    atomic {
        LOCK();
#if !defined(LOCALHOME) && MAXCRASH > 0
        REPAIR(0);
#endif
#ifndef API_ONLY
        CHECK(p_clean_end, ENDCLEAN && QSUM == 0 && !ANYANN);
#endif
        mtx = 0
    }
died:
    skip
}
