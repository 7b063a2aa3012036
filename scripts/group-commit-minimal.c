/*
 * group-commit-minimal.c — the simplest correct group commit of N closed-loop processes, without
 * the library, next to the flock baseline, in one run (docs/DESIGN.md §8). A reference point
 * for `batch-shm-demo spawn`, not part of the package. Both modes append 64-byte records to a log
 * file in DIR and fdatasync it.
 *
 *   flock   : each process, per operation: flock(LOCK_EX), write one record, fdatasync, unlock.
 *   minimal : every process arrives (one atomic add on a shared counter); the last to arrive
 *             writes the batch of N records with one write and one fdatasync, then bumps a futex
 *             word and wakes the others, which go straight back. One sleep and one wake-up per
 *             waiting process per batch; no mutex, no crash safety, no bookkeeping. (Not a bound:
 *             BatchIPC's waiters yield the CPU before they sleep and can beat it.)
 *
 * Build and run (DIR on the disk the demo uses, not tmpfs):
 *   cc -O2 -o /tmp/group-commit-minimal scripts/group-commit-minimal.c
 *   /tmp/group-commit-minimal 8 500 /tmp     # N processes, operations per process, DIR
 * Prints one line per mode (ops/s, fdatasyncs, mean fdatasync and mean time between batches
 * outside it) and the ratio minimal ÷ flock.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

enum { RECORD = 64 };

typedef struct shared {
    uint32_t gen;        /* futex word: bumped by the committer after each batch */
    uint32_t arrived;    /* processes arrived in the current batch */
    uint32_t start;      /* start barrier: processes ready */
    uint32_t pad;
    uint64_t batches;    /* batches committed (minimal) */
    uint64_t sync_ns;    /* total time inside fdatasync */
} shared;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void futex_wait(uint32_t *w, uint32_t v) { syscall(SYS_futex, w, FUTEX_WAIT, v, NULL, NULL, 0); }
static void futex_wake_all(uint32_t *w) { syscall(SYS_futex, w, FUTEX_WAKE, 0x7fffffff, NULL, NULL, 0); }

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) die("write");
        p += w;
        n -= (size_t)w;
    }
}

static void timed_sync(int fd, shared *s) {
    uint64_t t0 = now_ns();
    if (fdatasync(fd) != 0) die("fdatasync");
    __atomic_add_fetch(&s->sync_ns, now_ns() - t0, __ATOMIC_RELAXED);
}

/* Every process waits here until all n are ready, so that the clock starts with all of them. */
static void start_barrier(shared *s, int n) {
    __atomic_add_fetch(&s->start, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&s->start, __ATOMIC_SEQ_CST) < (uint32_t)n) sched_yield();
}

static void worker_flock(shared *s, int n, int ops, const char *path) {
    int fd = open(path, O_WRONLY | O_APPEND);
    if (fd < 0) die("open");
    char rec[RECORD];
    memset(rec, 'f', sizeof rec);
    start_barrier(s, n);
    for (int i = 0; i < ops; i++) {
        if (flock(fd, LOCK_EX) != 0) die("flock");
        write_all(fd, rec, sizeof rec);
        timed_sync(fd, s);
        if (flock(fd, LOCK_UN) != 0) die("flock");
    }
    close(fd);
}

static void worker_minimal(shared *s, int n, int ops, const char *path) {
    int fd = open(path, O_WRONLY | O_APPEND);
    if (fd < 0) die("open");
    char *batch = malloc((size_t)n * RECORD);
    memset(batch, 'g', (size_t)n * RECORD);
    start_barrier(s, n);
    for (int i = 0; i < ops; i++) {
        uint32_t gen = __atomic_load_n(&s->gen, __ATOMIC_SEQ_CST);
        if (__atomic_add_fetch(&s->arrived, 1, __ATOMIC_SEQ_CST) == (uint32_t)n) {
            /* The last to arrive commits the whole batch. */
            write_all(fd, batch, (size_t)n * RECORD);
            timed_sync(fd, s);
            s->batches++;
            __atomic_store_n(&s->arrived, 0, __ATOMIC_SEQ_CST);
            __atomic_add_fetch(&s->gen, 1, __ATOMIC_SEQ_CST);
            futex_wake_all(&s->gen);
        } else {
            while (__atomic_load_n(&s->gen, __ATOMIC_SEQ_CST) == gen) futex_wait(&s->gen, gen);
        }
    }
    free(batch);
    close(fd);
}

/* Runs one mode with n processes; returns ops/s. */
static double run(const char *mode, int n, int ops, const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/group-commit-minimal-%d.log", dir, (int)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) die("open log");
    close(fd);
    shared *s = mmap(NULL, sizeof(shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED) die("mmap");
    memset(s, 0, sizeof *s);
    int minimal_mode = strcmp(mode, "minimal") == 0;
    pid_t pids[256];
    for (int i = 0; i < n; i++) {
        pids[i] = fork();
        if (pids[i] < 0) die("fork");
        if (pids[i] == 0) {
            if (minimal_mode) worker_minimal(s, n, ops, path); else worker_flock(s, n, ops, path);
            _exit(0);
        }
    }
    while (__atomic_load_n(&s->start, __ATOMIC_SEQ_CST) < (uint32_t)n) sched_yield();
    double t0 = now();
    for (int i = 0; i < n; i++) {
        int st;
        if (waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "worker %d failed\n", i);
            exit(1);
        }
    }
    double secs = now() - t0;
    double total = (double)n * ops;
    uint64_t syncs = minimal_mode ? s->batches : (uint64_t)total;
    double sync_us = syncs ? (double)s->sync_ns / 1e3 / (double)syncs : 0;
    double per_batch_us = secs * 1e6 / (double)syncs;
    printf("%-7s N=%d ops/s %9.0f  fdatasyncs %6llu  mean fdatasync %6.1f us  mean time per fdatasync %6.1f us  gap %6.1f us\n",
           mode, n, total / secs, (unsigned long long)syncs, sync_us, per_batch_us, per_batch_us - sync_us);
    munmap(s, sizeof *s);
    unlink(path);
    return total / secs;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 8;
    int ops = argc > 2 ? atoi(argv[2]) : 500;
    const char *dir = argc > 3 ? argv[3] : "/tmp";
    if (n < 1 || n > 256 || ops < 1) {
        fprintf(stderr, "usage: group-commit-minimal [N 1..256] [OPS] [DIR]\n");
        return 64;
    }
    double fl = run("flock", n, ops, dir);
    double mi = run("minimal", n, ops, dir);
    printf("minimal / flock = %.2f\n", mi / fl);
    return 0;
}
