#!/bin/bash
# ab_core.sh A B [flows [rounds]]: the tracking core of two trees, timed side
# by side in one process (ab_core.c says how), under several code layouts.
#
# A and B are source trees (directories holding daemon/core and
# include/core) or revisions of the git repository this script lies in
# (main, HEAD~2, a commit); "." is the working tree.  flows defaults to
# 1000000, rounds (pairs of 256-packet stretches) to 20000.
#
# Why several layouts: any change moves the code that follows it, and where
# a hot loop falls against 32- and 64-byte boundaries alone moved the batch
# path by up to 1% here.  So each tree is built under five alignment
# settings, and each setting is run in both orders (A first, then B
# first); the last line is the geometric mean of the ten B/A, which is what
# to compare.  AB_QUICK=1 runs the default layout only (both orders).
#
# Environment: CC (default cc), AB_TASKSET (default "taskset -c 1" where
# the machine has more than one CPU; empty for none), RANDOM_SIDES (passed
# on to ab_core).
set -euo pipefail

if [ $# -lt 2 ]; then
	echo "usage: $0 A B [flows [rounds]]  (A, B: source trees or git revisions)" >&2
	exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
flows=${3:-1000000}
rounds=${4:-20000}
cc=${CC:-cc}
if [ -z "${AB_TASKSET+set}" ]; then
	AB_TASKSET=""
	if [ "$(nproc)" -gt 1 ] && command -v taskset >/dev/null; then AB_TASKSET="taskset -c 1"; fi
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/ab_core.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The tree of one side: a directory as it is, or a git revision exported.
tree_of() {
	local spec=$1 dest=$2
	if [ -d "$spec/daemon/core" ] && [ -d "$spec/include/core" ]; then
		(cd "$spec" && pwd)
		return
	fi
	if ! git -C "$repo" rev-parse --verify --quiet "$spec^{commit}" >/dev/null; then
		echo "$0: $spec is neither a source tree nor a revision of $repo" >&2
		exit 2
	fi
	mkdir -p "$dest"
	git -C "$repo" archive "$spec" daemon/core include/core | tar -x -C "$dest"
	echo "$dest"
}

# A tree's core, compiled with the layout's flags, as one relocatable object.
build_core() {
	local tree=$1 flags=$2 out=$3 objs=()
	mkdir -p "$out.d"
	for f in "$tree"/daemon/core/*.c; do
		local o
		o="$out.d/$(basename "$f" .c).o"
		# shellcheck disable=SC2086 # flags holds several options
		$cc -std=gnu11 -O2 -g $flags -D_GNU_SOURCE -I"$tree/include/core" -c "$f" -o "$o"
		objs+=("$o")
	done
	ld -r -o "$out" "${objs[@]}"
}

# A copy of a core object whose public symbols carry a prefix ("A_" or "B_").
prefixed() {
	local core=$1 prefix=$2 out=$3
	nm --defined-only -g "$core" | awk -v p="$prefix" 'NF == 3 { print $3, p $3 }' > "$out.map"
	objcopy --redefine-syms="$out.map" "$core" "$out"
}

tree_a=$(tree_of "$1" "$work/tree-a")
tree_b=$(tree_of "$2" "$work/tree-b")
layouts=("" "-falign-loops=32" "-falign-functions=64 -falign-jumps=16" "-falign-loops=16 -falign-labels=8"
	 "-fno-align-loops -fno-align-jumps")
[ -n "${AB_QUICK:-}" ] && layouts=("")

ratios=()
for i in "${!layouts[@]}"; do
	flags=${layouts[$i]}
	for order in AB BA; do
		if [ $order = AB ]; then
			build_core "$tree_a" "$flags" "$work/a-$i.o"
			build_core "$tree_b" "$flags" "$work/b-$i.o"
			first=$work/a-$i.o second=$work/b-$i.o
		else
			first=$work/b-$i.o second=$work/a-$i.o
		fi
		prefixed "$first" A_ "$work/first.o"
		prefixed "$second" B_ "$work/second.o"
		$cc -std=gnu11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -I"$repo/include/core" -I"$repo/tests/bench" \
			"$here/ab_core.c" "$work/first.o" "$work/second.o" -lm -o "$work/ab_core"
		# shellcheck disable=SC2086 # AB_TASKSET is a command and its options
		line=$($AB_TASKSET "$work/ab_core" "$flows" "$rounds")
		ratio=$(sed -n 's/.*B\/A \([0-9.]*\) .*/\1/p' <<<"$line")
		# Run B-first, the program's A is the tree B: its B/A is A/B.
		[ $order = BA ] && ratio=$(awk -v r="$ratio" 'BEGIN { printf "%.4f", 1 / r }')
		ratios+=("$ratio")
		note=""
		[ $order = BA ] && note=" (B first: this line's A is tree B)"
		echo "${flags:-default layout}, $order$note: $line"
		echo "    B/A $ratio"
	done
done
printf '%s\n' "${ratios[@]}" | awk '{ s += log($1); n++ } END { printf "B/A geometric mean over %d runs: %.4f\n", n, exp(s / n) }'
