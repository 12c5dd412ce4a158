# shellcheck shell=bash disable=SC2154,SC2034  # sourced: the caller's variables
# Sourced by ci/kernels: one kernel's job. Boots it with virtme-ng (KVM
# first where /dev/kvm is usable, then QEMU's TCG if KVM cannot boot it),
# prints the guest's progress as it comes, stops the VM and everything it
# started, and writes what happened to kernel.json in the kernel's run
# folder, where tcplab-report reads it beside the results.
#
# Each VM is a session of its own (setsid): vng, QEMU and the virtiofsd
# daemons vng starts (one per shared folder) are its members, so the job
# ends them by their session, and only them.

vm_cpus=${TCPLAB_VM_CPUS:-2}
vm_memory=${TCPLAB_VM_MEMORY:-2G}
# Seconds: KVM boots in 1 to 3 s; a kernel KVM cannot run either makes
# QEMU exit at once or hangs silent. TCG boots in 3 to 10 s here.
kvm_boot_limit=${TCPLAB_KVM_BOOT_LIMIT:-45}
tcg_boot_limit=${TCPLAB_TCG_BOOT_LIMIT:-300}
# After boot: the unit tests and the cases (about 2 minutes under TCG).
run_limit=${TCPLAB_KERNEL_TIMEOUT:-1800}
# Under TCG, code runs 5 to 10 times slower: a case's waits (for the lab to
# settle, a line, an exit without `within`) get this deadline instead of
# 5 s (TCPLAB_DEADLINE_MS). Windows a case asserts are left as written.
# 60 s: thousand-connections' thousand connections, one settle, took 15
# to over 20 s in a TCG guest; a wait that holds costs only its own time.
tcg_deadline=${TCPLAB_TCG_DEADLINE_MS:-60000}
# Under TCG, wall-clock times jitter by tens of ms (a capture stamps a
# packet late; a timer fires a stale jiffy early in real time), so every
# window of when something happened is judged this much wider on both
# sides (TCPLAB_TIME_TOLERANCE; socket values the kernel reports, such as
# rto or a timer's time left, stay exact). Measured in TCG guests, never
# on a host: rto-backoff's `after 0.2s..0.3s` saw 0.198 s and a
# 0.4..0.55 s gap 0.374 s; a FIN's answer delayed 300 ms came 419.9 ms
# after it (bound: < 400 ms); a TSval moved 104 while 108 ms passed.
tcg_tolerance=${TCPLAB_TCG_TIME_TOLERANCE:-50ms}

now_s() { echo $((${EPOCHREALTIME/./} / 1000000)); }
# Seconds since $1 (microseconds), with tenths.
since() { local us=$((${EPOCHREALTIME/./} - $1)); printf '%d.%d' $((us / 1000000)) $((us / 100000 % 10)); }

# The live (not zombie) processes of session $1.
session_pids() { ps -eo pid=,sid=,stat= | awk -v s="$1" '$2 == s && $3 !~ /^Z/ { print $1 }'; }

# Whether process $1 is there and not a zombie.
alive() { [ -r "/proc/$1/stat" ] && ! awk '{ exit $3 != "Z" }' "/proc/$1/stat" 2>/dev/null; }

# wait_gone DEADLINE PID...: until none of them lives (they are not our
# children: /proc is polled), at most DEADLINE seconds.
wait_gone() {
    local until=$(($(now_s) + $1)) p left
    shift
    while :; do
        left=
        for p in "$@"; do alive "$p" && left="$left $p"; done
        [ -z "$left" ] && return 0
        [ "$(now_s)" -ge "$until" ] && return 1
        read -r -t 0.05 <> <(:) || true # the poll's interval
    done
}

# Ends VM session $1 (vng's pid) and whatever is left of it: TERM to each
# member, KILL after 10 s; a process of it still there after that is
# recorded as left behind.
stop_vm() {
    local pids
    pids=$(session_pids "$1")
    [ -n "$pids" ] || return 0
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null
    # shellcheck disable=SC2086
    wait_gone 10 $pids && return 0
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null
    # shellcheck disable=SC2086
    wait_gone 5 $pids && return 0
    echo "ci/kernels: $label: processes of its VM left: $(ps -o pid=,args= -p "$(paste -sd, <<<"$pids")")" >>"$mdir/left"
}

# The VM and what it says, as one stream of lines: `==vm N` (vng's pid,
# its session), each line the guest adds to its progress file as it comes,
# then `==exit RC` once vng has ended (and been reaped here, so tail's
# --pid sees it gone and tail ends after its last read).
vm_stream() {
    local vm rc
    TMPDIR=$kdir/vng-tmp setsid vng "$@" </dev/null >"$kdir/vng-$accel.log" 2>&1 &
    vm=$!
    echo "==vm $vm"
    tail -n +1 -F --pid="$vm" "$kdir/status/progress" 2>/dev/null &
    wait "$vm"
    rc=$?
    wait
    echo "==exit $rc"
}

# vm_boot ACCEL: boots the kernel once and follows it to its end. Sets
# B_BOOTED (1 once the guest said so), B_DONE (1 once it ran everything),
# B_BOOT_S (seconds to boot) and B_WHY (what went wrong).
vm_boot() {
    local accel=$1 args vm='' fd line left limit deadline t0 last='' env=() how=''
    B_BOOTED=0 B_DONE=0 B_BOOT_S='' B_WHY=''
    : >"$kdir/status/progress"
    env=("PATH=$PATH" "RUSTC=$rustc")
    # A file, not the environment: vng puts --exec on the kernel's command
    # line, which holds 2048 bytes (6.1 panics in start_kernel beyond).
    printf '%s\n' "${only[@]}" >"$kdir/status/only"
    [ -n "${TCPLAB_GUEST_CASE_THREADS:-}" ] && env+=("TCPLAB_GUEST_CASE_THREADS=$TCPLAB_GUEST_CASE_THREADS")
    if [ "$accel" = TCG ]; then
        env+=("TCPLAB_DEADLINE_MS=${TCPLAB_DEADLINE_MS:-$tcg_deadline}" "TCPLAB_SKIPS=$repo/ci/kernels.d/tcg-skips"
            "TCPLAB_TIME_TOLERANCE=${TCPLAB_TIME_TOLERANCE:-$tcg_tolerance}")
        how=" (waits' deadline ${TCPLAB_DEADLINE_MS:-$tcg_deadline} ms, timing windows ±${TCPLAB_TIME_TOLERANCE:-$tcg_tolerance})"
    else
        [ -n "${TCPLAB_DEADLINE_MS:-}" ] && env+=("TCPLAB_DEADLINE_MS=$TCPLAB_DEADLINE_MS")
        [ -n "${TCPLAB_TIME_TOLERANCE:-}" ] && env+=("TCPLAB_TIME_TOLERANCE=$TCPLAB_TIME_TOLERANCE")
    fi
    args=(--run "$K_IMG" --user root --cpus "$vm_cpus" --memory "$vm_memory" --verbose
        --rwdir "$kdir/status" --rwdir "$target/tmp=$kdir/tmp" --rwdir "$target/tcplab=$kdir/tcplab"
        --exec "$(printf '%q ' env "${env[@]}" "$repo/ci/kernels.d/guest" \
            "$kdir/status" "$run_id" "${unit_bins[@]}" -- "$cases_bin")")
    [ "$accel" = TCG ] && args+=(--disable-kvm)
    say "$label" "booting $K_REL with $accel$how"
    printf '%q ' vng "${args[@]}" >"$kdir/vng-$accel.cmd"
    t0=${EPOCHREALTIME/./}
    limit=$tcg_boot_limit
    [ "$accel" = KVM ] && limit=$kvm_boot_limit
    deadline=$(($(now_s) + limit))
    exec {fd}< <(vm_stream "${args[@]}")
    while :; do
        left=$((deadline - $(now_s)))
        if [ "$left" -le 0 ]; then
            if [ -n "$B_WHY" ]; then
                :
            elif [ $B_BOOTED = 1 ]; then
                B_WHY="not done within $run_limit s of its boot (TCPLAB_KERNEL_TIMEOUT; last: $last)"
            else
                B_WHY="no sign of a boot within $limit s"
            fi
            [ -n "$vm" ] && stop_vm "$vm"
            deadline=$(($(now_s) + 30)) # for the stream's end
            continue
        fi
        IFS= read -r -t "$left" -u "$fd" line || {
            [ $? -gt 128 ] && continue # read's own timeout: the deadline decides
            break                      # the stream ended
        }
        case $line in
            "==vm "*) vm=${line#==vm }; continue ;;
            "==exit "*) continue ;;
            booted*)
                B_BOOTED=1 B_BOOT_S=$(since "$t0")
                line="$line, $B_BOOT_S s after the VM started"
                deadline=$(($(now_s) + run_limit)) ;;
            done) B_DONE=1 ;;
        esac
        last=$line
        say "$label" "$line"
    done
    exec {fd}<&-
    # virtiofsd daemons vng left, if any.
    [ -n "$vm" ] && stop_vm "$vm"
    if [ $B_BOOTED = 0 ] && [ -z "$B_WHY" ]; then
        B_WHY="QEMU ended before the guest booted: $(grep -aE 'qemu|error|panic|Kernel' "$kdir/vng-$accel.log" | tail -n 1 | tr -s ' ' | cut -c1-200)"
    elif [ $B_BOOTED = 1 ] && [ $B_DONE = 0 ] && [ -z "$B_WHY" ]; then
        B_WHY="the VM ended before the guest was done (last: $last)"
    fi
    return 0
}

# Writes kernel.json in the run folder: what the report says of the kernel.
kernel_json() {
    mkdir -p "$rundir"
    J_LABEL=$label J_SPEC=$spec J_RELEASE=$K_REL J_SOURCE=$K_SRC J_ACCEL=$accel J_ACCEL_NOTE=$accel_note \
        J_BOOTED=$B_BOOTED J_DONE=$B_DONE J_BOOT_S=$B_BOOT_S J_SECONDS=$(since "$job_t0") J_NOTE=$B_WHY \
        J_RETRY_OF=${retry_of:-} \
        python3 -c '
import json, os, sys
e = os.environ
num = lambda v: float(v) if v else None
json.dump({
    "label": e["J_LABEL"], "spec": e["J_SPEC"], "release": e["J_RELEASE"],
    "source": e["J_SOURCE"], "accel": e["J_ACCEL"] or None,
    "accel_note": e["J_ACCEL_NOTE"] or None,
    "booted": e["J_BOOTED"] == "1", "finished": e["J_DONE"] == "1",
    "boot_seconds": num(e["J_BOOT_S"]), "seconds": num(e["J_SECONDS"]),
    "note": e["J_NOTE"] or None, "retry_of": e["J_RETRY_OF"] or None,
}, open(sys.argv[1], "w"), indent=2)
' "$rundir/kernel.json"
}

# kernel_job N SPEC LABEL REPETITION: one kernel, start to end. A retry
# (ci/kernels --retries) sets retry_of (the run id it retries) and
# retry_round, and `only` to the tests to run again: its run is
# <retry_of>-retry<round>, and its kernel.json says what it retries.
kernel_job() {
    local n=$1 spec=$2 label=$3 r=$4 run_id kdir rundir accel accel_note job_t0
    job_t0=${EPOCHREALTIME/./}
    say "$label" "resolving $spec"
    if ! resolve_kernel "$spec"; then
        say "$label" "FAILED: $K_WHY"
        echo "$label: $K_WHY" >"$mdir/$n.why"
        return
    fi
    say "$label" "$K_REL: $K_SRC"
    run_id=$(printf %s "$K_REL" | tr -c 'A-Za-z0-9._-' _)
    [ "$repeat" -gt 1 ] && run_id=$run_id-$r
    [ -n "${retry_of:-}" ] && run_id=$retry_of-retry$retry_round
    kdir=$mdir/$n
    rundir=$kdir/tcplab/runs/$run_id
    mkdir -p "$kdir/status" "$kdir/tmp" "$kdir/tcplab" "$kdir/vng-tmp"
    echo "$rundir" >"$mdir/$n.run"
    accel=KVM accel_note=
    if [ -n "$kvm_note" ]; then
        accel=TCG accel_note=$kvm_note
    fi
    vm_boot "$accel"
    if [ "$accel" = KVM ] && [ $B_BOOTED = 0 ] && [ "$kvm_mode" != yes ]; then
        accel=TCG accel_note="KVM could not boot it: $B_WHY"
        say "$label" "KVM could not boot it ($B_WHY): TCG instead"
        vm_boot TCG
    fi
    [ $B_BOOTED = 1 ] && touch "$mdir/$n.booted"
    [ -n "$B_WHY" ] && { say "$label" "FAILED: $B_WHY"; echo "$label: $B_WHY" >"$mdir/$n.why"; }
    kernel_json
    say "$label" "VM gone after $(since "$job_t0") s ($accel)"
}
