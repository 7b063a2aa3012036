#!/usr/bin/env bash
# model/check.sh — model-checks the batching protocol (model/batch.pml) with spin.
#
# For every configuration below: spin -a generates the verifier, cc compiles it, and it runs
# within a time limit. Exhaustive runs must find nothing; the known-bug and mutation runs must
# find their violation (a seeded bug that is not caught fails the check). Exits 0 when all is as
# expected, 1 otherwise, 2 when a tool is missing. See model/README.md.
#
#   model/check.sh            all configurations
#   model/check.sh PATTERN    only those whose name matches the (grep -E) pattern
#   model/check.sh --list     the configurations
#   model/check.sh --extra [PATTERN]   also the larger runs (one exhaustive, two bitstate)
#
# Environment: MODEL_JOBS (runs at a time, default 2), MODEL_TIME_LIMIT (seconds per run, default
# 300), MODEL_MEMLIM (MB per run, default 2048),
# MODEL_KEEP=1 keeps the work directory (pan sources, outputs, trails), MODEL_TRAILS=1 prints the
# trail of the known-bug and mutation runs too, MODEL_CFLAGS (default -O0: pan.c compiles in
# 2 s at -O0 and in 15-25 s at -O2, which the searches here do not win back).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
model="$here/batch.pml"
time_limit=${MODEL_TIME_LIMIT:-300}
memlim=${MODEL_MEMLIM:-2048}
jobs=${MODEL_JOBS:-2}

# Feature sets (see the header of batch.pml).
all_scripts="-DWITH_TRIGGER -DWITH_CANCEL -DWITH_THROW -DWITH_LEAVE -DWITH_NONBLOCK -DWITH_COMMITERR -DWITH_INPLACE"
safety_mode="-DSPURIOUS -DEARLY"          # waits end at any time; the adaptive policy commits when it likes
api="-DAPI_ONLY"                          # known-bug and mutation runs: what the users see

# name | kind | spin -D flags | expected violation (xfail and mutation runs)
#   safety:     assertions and end states, exhaustive (SAFETY, COLLAPSE); must find nothing
#   liveness:   the same search without SPURIOUS/EARLY (the strict rule; a wait ends only on a
#               wake, or on the liveness period while a dead participant awaits repair: a lost
#               wake-up is an invalid end state), then a search for non-progress cycles (-l)
#               without fairness (any cycle fails, which is stronger than weak fairness); must
#               find nothing
#   liveness-f: the same with weak fairness (-l -f)
#   xfail:      the code as it is, where the model found a real bug; must find the expected
#               violation (make it a safety run once the code is fixed)
#   mutation:   a seeded bug; must be caught (any property; the expected one is printed)
#   (xfail and mutation runs check only what users see (API_ONLY: outcomes, triggers, batching,
#   the queue, hangs), without SPURIOUS, so that a hang is an invalid end state)
#   extra:      a larger exhaustive run, only with --extra
#   extra-bit:  a larger run with bitstate hashing (partial: a violation it finds is real, but it
#               may miss some), stopped after 3 minutes (pan -Q3), only with --extra
configs=$(cat <<EOF
safety-local-1c      | safety     | -DLOCALHOME $safety_mode -DWITH_ASYNCCANCEL $all_scripts -DOPS=1 -DOPS0=2 |
safety-local-2c      | safety     | -DLOCALHOME -DNC=2 -DBALANCER -DMAXREFUSE=1 $safety_mode -DWITH_ASYNCCANCEL -DWITH_TRIGGER -DWITH_LEAVE -DOPS=1 |
safety-shm-1c        | safety     | $safety_mode $all_scripts -DOPS=1 -DOPS0=2 |
safety-shm-1c-4w     | safety     | $safety_mode -DWITH_TRIGGER -DWITH_LEAVE -DWITH_INPLACE -DNW=4 -DOPS=1 |
safety-shm-2c        | safety     | -DNC=2 -DBALANCER -DMAXREFUSE=1 $safety_mode -DWITH_TRIGGER -DWITH_LEAVE -DOPS=1 |
safety-crash-1c      | safety     | -DMAXCRASH=1 -DVICTIMS=1 $safety_mode $all_scripts -DOPS=1 |
safety-crash-1c-loop | safety     | -DMAXCRASH=1 -DVICTIMS=2 $safety_mode -DWITH_TRIGGER -DWITH_LEAVE -DWITH_INPLACE -DOPS=1 -DOPS0=2 |
safety-crash-2c      | safety     | -DNC=2 -DBALANCER -DMAXCRASH=1 -DVICTIMS=1 $safety_mode -DWITH_LEAVE -DOPS=1 |
safety-crash2        | safety     | -DMAXCRASH=2 $safety_mode -DWITH_INPLACE -DOPS=1 |
liveness-local-1c    | liveness-f | -DLOCALHOME -DWITH_ASYNCCANCEL $all_scripts -DOPS=1 -DOPS0=2 |
liveness-local-2c    | liveness   | -DLOCALHOME -DNC=2 -DBALANCER -DMAXREFUSE=1 -DWITH_ASYNCCANCEL -DWITH_LEAVE -DWITH_NONBLOCK -DOPS=1 |
liveness-shm-1c      | liveness   | $all_scripts -DOPS=1 |
liveness-shm-2c      | liveness   | -DNC=2 -DBALANCER -DMAXREFUSE=1 -DWITH_LEAVE -DWITH_NONBLOCK -DOPS=1 |
liveness-crash-1c    | liveness   | -DMAXCRASH=1 -DVICTIMS=1 -DWITH_TRIGGER -DWITH_LEAVE -DWITH_THROW -DWITH_INPLACE -DOPS=1 |
liveness-crash-2c    | liveness   | -DNC=2 -DBALANCER -DMAXCRASH=1 -DVICTIMS=1 -DWITH_LEAVE -DOPS=1 |
mut-trigger-leak     | mutation   | $api -DM_TRIGGER_LEAK -DWITH_TRIGGER -DOPS=1 | invalid end state
mut-dead-waiter-exit | mutation   | $api -DM_DEAD_WAITER_NO_EXIT -DMAXCRASH=1 -DVICTIMS=1 -DOPS=1 | invalid end state
mut-no-poison        | mutation   | $api -DM_NO_POISON -DMAXCRASH=1 -DVICTIMS=1 -DOPS=1 | p_poisoned
mut-leave-queue-early| mutation   | $api -DM_LEAVE_QUEUE_EARLY -DOPS=1 | p_waits_for_announced
mut-free-before-ckpt | mutation   | $api -DM_FREE_BEFORE_CHECKPOINT -DMAXCRASH=2 -DOPS=1 | invalid end state
mut-holder-cleared   | mutation   | $api -DM_HOLDER_CLEARED_EARLY -DMAXCRASH=2 -DOPS=1 | p_poisoned
mut-restore-only-dead| mutation   | $api -DM_RESTORE_SLOT_ONLY_DEAD -DMAXCRASH=1 -DVICTIMS=1 -DOPS=1 | invalid end state
mut-holder-pre-restore| mutation  | $api -DM_HOLDER_BEFORE_RESTORE_ONLY -DMAXCRASH=1 -DVICTIMS=1 -DOPS=1 | p_check_passes
mut-unrec-joined     | mutation   | $api -DM_UNRECORDED_JOINED -DMAXCRASH=1 -DVICTIMS=1 -DOPS=1 | p_poisoned
mut-statechanged     | mutation   | -DM_STATECHANGED_NO_RECORD -DWITH_TRIGGER -DMAXCRASH=1 -DVICTIMS=1 -DOPS=1 | p_clean_end
mut-no-restore       | mutation   | $api -DM_NO_RESTORE -DMAXCRASH=1 -DVICTIMS=1 -DOPS=1 | p_poisoned
mut-no-unknown       | mutation   | $api -DM_NO_UNKNOWN -DMAXCRASH=1 -DVICTIMS=1 -DOPS=1 | invalid end state
mut-refused-queued   | mutation   | $api -DM_REFUSED_STAYS_QUEUED -DNC=2 -DBALANCER -DMAXREFUSE=1 -DOPS=1 | p_queue_count
mut-no-wake-others   | mutation   | $api -DM_NO_WAKE_OTHERS -DNC=2 -DBALANCER -DOPS=1 | invalid end state
mut-seq-after-unlock | mutation   | $api -DM_SEQ_AFTER_UNLOCK -DOPS=1 | invalid end state
extra-local-1c-4w    | extra      | -DLOCALHOME $safety_mode -DWITH_TRIGGER -DWITH_LEAVE -DWITH_THROW -DWITH_INPLACE -DNW=4 -DOPS=1 |
extra-local-2c-nb    | extra      | -DLOCALHOME -DNC=2 -DBALANCER -DMAXREFUSE=1 $safety_mode -DWITH_ASYNCCANCEL -DWITH_TRIGGER -DWITH_LEAVE -DWITH_NONBLOCK -DOPS=1 |
extra-crash-1c-4w    | extra      | -DMAXCRASH=1 -DVICTIMS=1 $safety_mode -DWITH_INPLACE -DNW=4 -DOPS=1 |
extra-crash2-2c      | extra-bit  | -DNC=2 -DBALANCER -DMAXCRASH=2 $safety_mode -DWITH_LEAVE -DOPS=1 |
extra-crash-4w-ops2  | extra-bit  | -DMAXCRASH=1 -DVICTIMS=1 $safety_mode -DWITH_TRIGGER -DWITH_LEAVE -DNW=4 -DOPS=2 |
EOF
)

if [ "${1:-}" = "--list" ]; then
    printf '%s\n' "$configs" | sed 's/ *|/ |/g'
    exit 0
fi
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
    exit 0
fi
extra=0
if [ "${1:-}" = "--extra" ]; then
    extra=1
    shift
fi
pattern=${1:-.}

for tool in spin cc timeout; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        case $tool in
            spin) hint="install it: apt-get install -y spin (Debian/Ubuntu package)" ;;
            cc) hint="install a C compiler: apt-get install -y gcc" ;;
            *) hint="install coreutils" ;;
        esac
        echo "error: $tool not found; $hint" >&2
        exit 2
    fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/batch-model.XXXXXX")
if [ "${MODEL_KEEP:-0}" = 1 ]; then
    echo "work directory: $work"
else
    trap 'rm -rf "$work"' EXIT
fi

failures=0
ran=0
fail() { printf '  FAIL: %s\n' "$1"; }

# Generates, compiles and runs one verifier in $1: KIND (safety|np|bitstate), then spin flags.
# Leaves pan.log; returns 0 when pan ran to its end (whatever it found), 1 otherwise.
verify() {
    local dir=$1 kind=$2 ccflags panflags
    shift 2
    mkdir -p "$dir"
    case $kind in
        safety) ccflags="-DSAFETY -DCOLLAPSE"; panflags="" ;;
        np) ccflags="-DNP -DCOLLAPSE"; panflags="-l" ;;
        npfair) ccflags="-DNP -DCOLLAPSE"; panflags="-l -f" ;;
        bitstate) ccflags="-DSAFETY -DBITSTATE"; panflags="-w28 -Q3" ;;
    esac
    cp "$model" "$dir/batch.pml"   # pan writes its trail next to the model it was made from
    if ! (cd "$dir" && spin -a "$@" batch.pml >spin.log 2>&1); then
        echo "  spin -a failed:"; sed 's/^/    /' "$dir/spin.log" | head -20
        return 1
    fi
    # shellcheck disable=SC2086
    if ! (cd "$dir" && cc ${MODEL_CFLAGS:--O0} -w $ccflags -DMEMLIM="$memlim" -o pan pan.c >cc.log 2>&1); then
        echo "  cc failed:"; sed 's/^/    /' "$dir/cc.log" | head -20
        return 1
    fi
    local rc=0
    # shellcheck disable=SC2086
    (cd "$dir" && timeout --signal=KILL "$time_limit" ./pan -m200000 $panflags >pan.log 2>&1) || rc=$?
    if [ "$rc" = 137 ]; then
        echo "  pan did not finish within ${time_limit}s (MODEL_TIME_LIMIT)"
        return 1
    fi
    if grep -q -e "max search depth too small" -e "reached -DMEMLIM bound" -e "out of memory" "$dir/pan.log"; then
        echo "  the search is incomplete:"; grep -e "depth too small" -e "MEMLIM" -e "out of memory" "$dir/pan.log" | head -3 | sed 's/^/    /'
        return 1
    fi
    if ! grep -q "errors:" "$dir/pan.log"; then
        echo "  pan ended without a result (exit $rc):"; tail -5 "$dir/pan.log" | sed 's/^/    /'
        return 1
    fi
    return 0
}

# The numbers of a run, one line.
summary() {
    awk '
        /^State-vector/ { vec = $2; depth = $6; sub(",", "", depth) }
        /states, stored/ { stored = $1 }
        /transitions \(= / { trans = $1 }
        /elapsed time/ { t = $4 }
        /total actual memory usage/ { mem = $1 }
        END { printf "%s states, %s transitions, depth %s, %s B/state, %.0f MB, %ss", stored, trans, depth, vec, mem, t }
    ' "$1"
}

# What pan found: the property, or "none".
found() {
    local line
    line=$(grep -m1 '^pan:1: ' "$1" || true)
    if [ -z "$line" ]; then echo none; return; fi
    line=${line#pan:1: }
    line=${line%% (at depth*}
    line=${line#assertion violated }
    echo "$line"
}

# A readable trail of the violation in $1 (spin flags follow): the shared-state steps only.
trail() {
    local dir=$1
    shift
    (cd "$dir" && spin -t -p "$@" batch.pml 2>&1) |
        grep -E '^ *[0-9]+:\s+proc' |
        sed -E 's/^ *[0-9]+:\s+//; s/\(state [0-9]+\)//; s#[^ ]*batch.pml:#line #' |
        grep -vE '\[(\(1\)|else|skip|goto .*)\]|\[(x|i|p|rc|rph|o1|oa|deadSet|idx|choice|step|script|res|myBid|queued|blocking|anyFree|refusedNow|ownerDied|c|back|timed|hp|rhold|rwake|rmode|waitedSec|wasWaiting|sh[A-Z][a-zA-Z]*(\[x\])?) = |\[p_[a-z_]* = |\[\(\(?\(?(x|i|p)[ <=!]' |
        tail -"${MODEL_TRAIL_LINES:-120}" | sed 's/^/    /'
}

# One configuration: its lines of output on stdout (a failure is a line "  FAIL: ...").
check_one() {
    local name=$1 kind=$2 flags=$3 expected=$4 dir mode got partial note what
    # shellcheck disable=SC2086
    set -- $flags
    dir="$work/$name"
    printf '%-22s %-9s %s\n' "$name" "$kind" "$flags"
    case $kind in
        safety | extra | extra-bit)
            if [ "$kind" = extra-bit ]; then mode=bitstate; else mode=safety; fi
            verify "$dir" "$mode" "$@" || { fail "$name: no result"; return; }
            got=$(found "$dir/pan.log")
            partial=""
            [ "$mode" = bitstate ] && partial=" (bitstate: partial)"
            grep -q "^Time limit of" "$dir/pan.log" && partial=" (bitstate, stopped by pan -Q3: partial)"
            printf '  %s%s\n' "$(summary "$dir/pan.log")" "$partial"
            if [ "$got" != none ]; then
                fail "$name: $got"
                trail "$dir" "$@"
            fi
            ;;
        liveness | liveness-f)
            verify "$dir/end" safety "$@" || { fail "$name: no result"; return; }
            got=$(found "$dir/end/pan.log")
            printf '  end states: %s\n' "$(summary "$dir/end/pan.log")"
            if [ "$got" != none ]; then
                fail "$name: $got"
                trail "$dir/end" "$@"
                return
            fi
            if [ "$kind" = liveness-f ]; then mode=npfair; what="non-progress cycles, weak fairness"; else mode=np; what="non-progress cycles (any)"; fi
            verify "$dir/np" "$mode" "$@" || { fail "$name: no result (non-progress)"; return; }
            got=$(found "$dir/np/pan.log")
            printf '  %s: %s\n' "$what" "$(summary "$dir/np/pan.log")"
            if [ "$got" != none ]; then
                fail "$name: $got"
                trail "$dir/np" "$@"
            fi
            ;;
        xfail | mutation)
            verify "$dir" safety "$@" || { fail "$name: no result"; return; }
            got=$(found "$dir/pan.log")
            if [ "$got" = none ]; then
                if [ "$kind" = xfail ]; then
                    fail "$name: the known bug is no longer found: the code was fixed? then make this a safety run"
                else
                    fail "$name: the seeded bug is NOT caught ($(summary "$dir/pan.log"))"
                fi
            else
                note=""
                [ "$got" != "$expected" ] && note=" (expected: $expected)"
                if [ "$kind" = xfail ]; then
                    printf '  known bug found as expected: %s%s — %s\n' "$got" "$note" "$(summary "$dir/pan.log")"
                else
                    printf '  caught: %s%s — %s\n' "$got" "$note" "$(summary "$dir/pan.log")"
                fi
                [ "${MODEL_TRAILS:-0}" = 1 ] && trail "$dir" "$@"
            fi
            ;;
        *) fail "$name: unknown kind $kind" ;;
    esac
}

printf 'model-checking %s with %s, %s at a time\n' "${model#"$PWD"/}" "$(spin -V | head -1)" "$jobs"
start=$(date +%s)
names=()
while IFS='|' read -r name kind flags expected; do
    name=$(echo "$name" | xargs); kind=$(echo "$kind" | xargs); expected=$(echo "$expected" | xargs)
    [ -z "$name" ] && continue
    echo "$name" | grep -Eq -- "$pattern" || continue
    case $kind in extra*) [ "$extra" = 0 ] && continue ;; esac
    ran=$((ran + 1))
    names+=("$name")
    # At most $jobs at a time (each run is one process); the outputs are printed in order below.
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
    check_one "$name" "$kind" "$flags" "$expected" >"$work/$name.out" 2>&1 &
done <<<"$configs"
wait
for name in "${names[@]}"; do
    cat "$work/$name.out"
    failures=$((failures + $(grep -c '^  FAIL: ' "$work/$name.out")))
done

if [ "$ran" -eq 0 ]; then
    echo "error: no configuration matches '$pattern' (see --list)" >&2
    exit 1
fi
printf '\n%s: %d configurations in %ss: ' "${model##*/}" "$ran" "$(($(date +%s) - start))"
if [ "$failures" -ne 0 ]; then
    echo "$failures FAILED"
    exit 1
fi
echo "all as expected"
