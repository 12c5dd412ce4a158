#!/bin/bash
# The seed's experiment, scripted by hand as a careful engineer would, with
# the seed's own tools: iproute2, tcpdump, ncat, ss. `make bench` times it
# against `cases --exact teardown`, which asserts the same thing.
#
#   two namespaces and a veth; tcpdump --immediate-mode on the server's end;
#   server `ncat -kl 11111`; client `ncat 192.168.2.100 11111`; Ctrl+C on
#   the client; the six packets [S] [S.] [.] [F.] [F.] [.] in tcpdump's
#   output, and a TIME-WAIT socket on the client.
#
# No fixed sleeps: every wait re-checks its condition (carrier, tcpdump's
# "listening on", LISTEN in ss, the packets in tcpdump's output, TIME-WAIT in
# ss) until it holds, under a 5 s deadline, and says what it waited for when
# that passes. The pitfalls a script meets (/work/shared/PITFALLS.md, "Shell
# anchors") are handled: tcpdump --immediate-mode and -l, the SYN sent only
# after carrier, job control on so that a background ncat keeps SIGINT, and
# stdin held open through a FIFO so that `ncat -kl` does not read EOF.
#
# Exit 0 when the experiment showed what the seed shows (the three-packet
# release, or the four-packet one the kernel's delayed-ACK timer sometimes
# picks, README "Timing"); non-zero, saying why, otherwise. Needs root.
set -euo pipefail
set -m  # job control: background jobs keep SIGINT at its default
IP=/usr/sbin/ip
SS=/usr/bin/ss
C=seed-$$-client
S=seed-$$-server
dir=$(mktemp -d)
pids=()

cleanup() {
    local rc=$?
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    $IP netns del "$C" 2>/dev/null || true
    $IP netns del "$S" 2>/dev/null || true
    exec 3>&- 4>&-
    if [ "$rc" != 0 ] && [ -f "$dir/dump" ]; then
        echo "seed-experiment: tcpdump saw:" >&2
        cat "$dir/dump" >&2
    fi
    rm -rf "$dir"
    exit "$rc"
}
trap cleanup EXIT

# until WHAT CMD...: re-runs CMD until it succeeds; fails after 5 s saying
# what it waited for.
until_ok() {
    local what=$1
    shift
    local end=$((${EPOCHREALTIME/./} + 5000000))
    until "$@"; do
        if ((${EPOCHREALTIME/./} > end)); then
            echo "seed-experiment: timed out after 5 s waiting for $what" >&2
            return 1
        fi
    done
}

carrier() { [[ $($IP -n "$1" -o link show "$2") == *LOWER_UP* ]]; }
tcpdump_ready() { grep -q "^listening on" "$dir/dump.err" 2>/dev/null; }
listening() { [ -n "$($SS -N "$S" -H -4 -t -l -n 'sport = :11111')" ]; }
time_wait() { [ -n "$($SS -N "$C" -H -t -n state time-wait 'dport = :11111')" ]; }
# lines N: tcpdump has printed at least N packets.
lines() {
    local l
    mapfile -t l <"$dir/dump"
    [ "${#l[@]}" -ge "$1" ]
}
# released: the client's last ACK, after the server's FIN, is in the output.
released() {
    local l
    mapfile -t l <"$dir/dump"
    local n=${#l[@]}
    [ "$n" -ge 6 ] && [[ ${l[n - 1]} == *"192.168.2.105."*" > 192.168.2.100.11111: Flags [.]"* ]] &&
        [[ ${l[*]} == *"192.168.2.100.11111 > 192.168.2.105."*": Flags [F.]"* ]]
}

# The two hosts and the cable.
$IP netns add "$C"
$IP netns add "$S"
$IP -n "$C" link add veth-c type veth peer name veth-s netns "$S"
$IP -n "$C" addr add 192.168.2.105/24 dev veth-c
$IP -n "$S" addr add 192.168.2.100/24 dev veth-s
$IP -n "$C" link set lo up
$IP -n "$C" link set veth-c up
$IP -n "$S" link set lo up
$IP -n "$S" link set veth-s up
until_ok "carrier on veth-c" carrier "$C" veth-c
until_ok "carrier on veth-s" carrier "$S" veth-s

# tcpdump on the server's end, every packet printed as it comes.
$IP netns exec "$S" tcpdump -i veth-s -nn -l --immediate-mode 'tcp port 11111' \
    >"$dir/dump" 2>"$dir/dump.err" &
pids+=($!)
until_ok "tcpdump to start capturing" tcpdump_ready

# Two terminals: stdin of each ncat is a FIFO this script holds open.
mkfifo "$dir/server.in" "$dir/client.in"
exec 3<>"$dir/server.in" 4<>"$dir/client.in"
$IP netns exec "$S" ncat -kl 11111 <"$dir/server.in" >/dev/null &
pids+=($!)
until_ok "ncat to listen on 11111" listening

$IP netns exec "$C" ncat 192.168.2.100 11111 <"$dir/client.in" >/dev/null &
client=$!
pids+=("$client")
until_ok "the handshake in tcpdump's output" lines 3

# Ctrl+C on the client.
kill -INT "$client"
wait "$client" 2>/dev/null || true
until_ok "the release in tcpdump's output" released
until_ok "TIME-WAIT on the client" time_wait

# What tcpdump printed, as flags: the seed's six packets, or the four-packet
# release.
mapfile -t l <"$dir/dump"
flags=""
for x in "${l[@]}"; do
    f=${x#*Flags [}
    flags+="[${f%%]*}] "
done
case "$flags" in
"[S] [S.] [.] [F.] [F.] [.] " | "[S] [S.] [.] [F.] [.] [F.] [.] ") ;;
*)
    echo "seed-experiment: unexpected packets: $flags" >&2
    exit 1
    ;;
esac
echo "seed-experiment: ${#l[@]} packets $flags+ TIME-WAIT on the client"
