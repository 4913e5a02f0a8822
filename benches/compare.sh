#!/usr/bin/env bash
# Side-by-side: redcheck verify vs redis-check-rdb on large files written by
# the real Redis 7.0 server.
#
#   benches/compare.sh [WORKDIR]        (default: $TMPDIR/redcheck-compare)
#   SCALE=0.25 benches/compare.sh       smaller files (1.0: ~4M keys)
#   RUNS=5 benches/compare.sh           best of N runs (default 3)
#   KINDS="mixed values" benches/compare.sh   only these files
#
# Generates, once per WORKDIR, with benches/gen_rdb.py:
#   mixed.rdb   ~4M small keys of every type (strings, listpack hashes and
#               zsets, quicklists, intsets, streams)
#   values.rdb  large LZF strings, random strings, big hashtable hashes,
#               skiplist zsets, big sets and lists
#   giant.rdb   a 10M-member set and a 2M-field hash (more members than any
#               memory budget holds: redcheck spills their fingerprints)
#   streams.rdb four streams of 250K entries with 20 consumer groups each,
#               PELs as long as the streams and 1000 consumers in one group
#   bench.aof   1M commands appended by the server (compared with
#               redis-check-aof; the keys column counts commands)
# then runs both checkers on each, RUNS times, and prints the best wall time,
# CPU time (user + system: the fairer figure on a shared machine),
# throughput, peak resident memory (rusage) and peak anonymous memory
# (RssAnon, polled from /proc: the heap, without the file's mapped pages),
# with redcheck's ratios to redis-check-rdb.
set -euo pipefail
cd "$(dirname "$0")/.."

work=${1:-${TMPDIR:-/tmp}/redcheck-compare}
scale=${SCALE:-1.0}
runs=${RUNS:-3}
mkdir -p "$work"

cargo build --release -q
redcheck=$PWD/target/release/redcheck
checker=$(python3 testdata/servers.py checker redis-7.0 rdb 2>/dev/null || true)
[ -x "$checker" ] || checker=$(command -v redis-check-rdb || true)
if [ ! -x "$checker" ]; then
    echo "redis-check-rdb not found (testdata/servers.py checker redis-7.0 rdb)" >&2
    exit 2
fi
aof_checker=$(python3 testdata/servers.py checker redis-7.0 aof 2>/dev/null || true)
[ -x "$aof_checker" ] || aof_checker=$(command -v redis-check-aof || true)

# The input file of each kind.
input() {
    case $1 in
        aof) echo "$work/bench.aof" ;;
        *) echo "$work/$1.rdb" ;;
    esac
}
kinds=${KINDS:-mixed values giant streams aof}
[ -x "$aof_checker" ] || kinds=${kinds//aof/}

for kind in $kinds; do
    if [ ! -s "$(input "$kind")" ]; then
        echo "generating $(input "$kind") (scale $scale) ..." >&2
        python3 benches/gen_rdb.py "$kind" "$(input "$kind")" "$scale"
    fi
done

# measure CMD... -> "wall_s max_rss_kb max_anon_kb cpu_s" for one run
# (benches/measure.py: one poller process, so the measurement itself takes
# next to no CPU from the measured program).
measure() {
    python3 benches/measure.py "$@"
}

# best CMD... -> the run with the lowest wall time among $runs.
best() {
    local best_line="" w
    for _ in $(seq "$runs"); do
        local line
        line=$(measure "$@")
        w=${line%% *}
        if [ -z "$best_line" ] || awk -v a="$w" -v b="${best_line%% *}" 'BEGIN { exit !(a < b) }'; then
            best_line=$line
        fi
    done
    echo "$best_line"
}

echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "redis-check-rdb: $checker ($("$checker" --version 2>/dev/null | head -1 || echo 7.0))"
[ -x "$aof_checker" ] && echo "redis-check-aof: $aof_checker"
echo "redcheck: $("$redcheck" --version), verify --threads $(nproc)"
echo
printf '%-8s %7s %8s  %-16s %7s %7s %8s %10s %10s\n' file MB keys tool wall cpu MB/s "peak RSS" "peak anon"
for kind in $kinds; do
    f=$(input "$kind")
    size=$(stat -L -c %s "$f")
    mb=$(awk -v s="$size" 'BEGIN { printf "%.1f", s / 1e6 }')
    if [ "$kind" = aof ]; then
        tool=redis-check-aof
        keys=$("$redcheck" verify --json "$f" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["commands"])')
        read -r cw crss canon ccpu < <(best "$aof_checker" "$f")
    else
        tool=redis-check-rdb
        keys=$("$redcheck" verify --json "$f" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["keys"])')
        read -r cw crss canon ccpu < <(best "$checker" "$f")
    fi
    read -r rw rrss ranon rcpu < <(best "$redcheck" verify --quiet --threads "$(nproc)" "$f")
    for row in "$tool $cw $crss $canon $ccpu" "redcheck $rw $rrss $ranon $rcpu"; do
        set -- $row
        printf '%-8s %7s %8s  %-16s %6.2fs %6.2fs %8.0f %8.1fMB %8.1fMB\n' "$kind" "$mb" "$keys" "$1" "$2" "$5" \
            "$(awk -v m="$mb" -v w="$2" 'BEGIN { print (w > 0 ? m / w : 0) }')" \
            "$(awk -v k="$3" 'BEGIN { print k / 1024 }')" "$(awk -v k="$4" 'BEGIN { print k / 1024 }')"
    done
    awk -v cw="$cw" -v rw="$rw" -v cc="$ccpu" -v rc="$rcpu" -v cr="$crss" -v rr="$rrss" -v ca="$canon" -v ra="$ranon" -v k="$kind" -v t="$tool" 'BEGIN {
        printf "%-8s redcheck / %s: throughput %.2fx (wall), %.2fx (per CPU second); peak RSS %.2fx; peak anon %.2fx\n\n",
            k, t, (rw > 0 ? cw / rw : 0), (rc > 0 ? cc / rc : 0), (cr > 0 ? rr / cr : 0), (ca > 0 ? ra / ca : 0) }'
done
