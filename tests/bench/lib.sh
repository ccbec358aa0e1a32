# Sourced by the benchmarks: progress lines and result rows.
# Rows go to BENCH_ROWS (default $BENCH_OUT/rows.jsonl, BENCH_OUT
# defaulting to $BUILD/bench); tests/bench/report.py turns rows.jsonl into
# report.md, report.json and the plots.

progress() { echo "bench: [$(date +%H:%M:%S)] $*"; }

# row GROUP NAME UNIT lower|higher "MEMVM VALUES" PEER "PEER VALUES":
# one measurement, each VMM's runs as space-separated numbers; PEER is
# qemu or limit; empty values mean the side could not run.
row() {
	jq -cn --arg g "$1" --arg n "$2" --arg u "$3" --arg b "$4" --arg m "$5" --arg p "$6" --arg q "$7" \
		--arg w "${BENCH_WHERE:-unknown}" \
		'def nums: [splits(" +") | select(length > 0) | tonumber];
		{group: $g, name: $n, unit: $u, better: $b, memvm: ($m | nums), peer: $p, peer_values: ($q | nums), where: $w}' \
		>>"${BENCH_ROWS:-${BENCH_OUT:-$BUILD/bench}/rows.jsonl}"
}
