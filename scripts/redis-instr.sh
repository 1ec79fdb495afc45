#!/bin/sh
# redis-instr.sh [JOBS] — redis-server's own work per job, Cocoon and asynq,
# counted in instructions (valgrind's callgrind), not seconds: the same for
# the same code on any x86-64 machine, whatever else the machine is doing.
#
# It runs the bench's throughput part (JOBS no-op jobs per phase, default
# 5000) with redis-server under callgrind; the bench's -phase-hook zeroes
# the count when a phase starts and dumps it when it ends. Then the job
# store's stages on their own (TestRedisStages): submit, and a worker's
# completion + lease cycle, for jobs nobody follows, then for jobs
# submitted with follow and followed (the bot's path). Kernel time
# (socket reads and writes) is not counted: it is what a machine's system
# calls cost, which is where asynq's extra round trips go. Under callgrind
# Redis runs ~40x slower, so the jobs/s mean nothing in themselves; their
# ratio (callgrind_jobs_per_s_ratio_*) is the Redis-bound one.
#
#   make bench-instr            # or: scripts/redis-instr.sh 5000
set -eu
jobs=${1:-5000}
cd "$(dirname "$0")/.."
if ! command -v valgrind >/dev/null 2>&1 || ! command -v callgrind_control >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ]; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
	else
		echo "redis-instr: valgrind missing: run \`apt-get install -y valgrind\` as root" >&2
		exit 1
	fi
fi
real=$(command -v redis-server) || { echo "redis-instr: redis-server missing: run \`apt-get install -y redis-server\`" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# The bench finds redis-server on PATH: this one runs the real one under
# callgrind, keeping its pid (exec keeps it) for the hook.
cat >"$dir/redis-server" <<EOF
#!/bin/sh
echo \$\$ >"$dir/redis.pid"
exec valgrind --tool=callgrind --callgrind-out-file="$dir/cg.%p" --dump-line=no "$real" "\$@" 2>>"$dir/valgrind.log"
EOF
# hook start|end PHASE, for the main process only (an AOF rewrite's fork
# runs under callgrind too).
cat >"$dir/hook" <<EOF
#!/bin/sh
pid=\$(cat "$dir/redis.pid")
case "\$1" in
start) exec callgrind_control -z "\$pid" >/dev/null ;;
end) exec callgrind_control -d "\$2" "\$pid" >/dev/null ;;
esac
EOF
chmod +x "$dir/redis-server" "$dir/hook"

echo "redis-instr: $jobs jobs per phase, redis-server under callgrind (about a minute)" >&2
if ! PATH="$dir:$PATH" go run ./cmd/cocoon-bench -only throughput -jobs "$jobs" -phase-hook "$dir/hook" >"$dir/bench.out" 2>"$dir/bench.log"; then
	cat "$dir/bench.log" >&2
	exit 1
fi
# counts FILES... — "phase instructions" per callgrind dump of the main
# process.
counts() {
	for f in "$@"; do
		phase=$(sed -n 's/^desc: Trigger: dump //p' "$f" | head -1)
		total=$(sed -n 's/^summary: //p' "$f" | head -1)
		echo "$phase $total"
	done
}
pid=$(cat "$dir/redis.pid")
counts "$dir"/cg."$pid".* | awk -v jobs="$jobs" '
	{ per[$1] = $2 / jobs; order[NR] = $1 }
	END {
		for (i = 1; i <= NR; i++) { n = order[i]; gsub("-", "_", n); printf "instr: redis_%s=%.0f instructions/job\n", n, per[order[i]] }
		for (c = 10; c <= 100; c *= 10) {
			a = per["asynq-c" c]; k = per["cocoon-c" c]
			if (a > 0 && k > 0) printf "instr: redis_cocoon_over_asynq_c%d=%.2f x\n", c, k / a
		}
	}'

# The jobs/s the bench reached with Redis under callgrind: Redis (~40 x
# slower) bounds every phase, so their ratio is what a machine whose Redis
# work is all that counts would see (it moves by ~5 % between runs: the Go
# side shares the cores with valgrind).
sed -n 's/^bench: \([a-z]*\)_jobs_per_s_\(c[0-9]*\)=\([0-9.]*\) jobs\/s$/\1 \2 \3/p' "$dir/bench.out" | awk '
	{ v[$1 "-" $2] = $3 }
	END {
		for (c = 10; c <= 100; c *= 10) {
			a = v["asynq-c" c]; k = v["cocoon-c" c]
			if (a > 0 && k > 0) printf "instr: callgrind_jobs_per_s_ratio_c%d=%.2f x (cocoon %d, asynq %d jobs/s)\n", c, k / a, k, a
		}
	}'

# The job store's stages on their own (cmd/cocoon-bench TestRedisStages:
# 2,048 jobs, 32-job submit calls, then one worker's cycles of 10
# completions + 10 leases).
rm -f "$dir"/cg.* "$dir/redis.pid"
if ! PATH="$dir:$PATH" COCOON_PHASE_HOOK="$dir/hook" go test -count 1 -run '^TestRedisStages$' ./cmd/cocoon-bench/ >"$dir/stages.log" 2>&1; then
	cat "$dir/stages.log" >&2
	exit 1
fi
pid=$(cat "$dir/redis.pid")
counts "$dir"/cg."$pid".* | awk '{ n = $1; gsub("-", "_", n); printf "instr: redis_%s=%.0f instructions/job\n", n, $2 / 2048 }'
