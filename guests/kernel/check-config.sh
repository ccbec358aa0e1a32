#!/usr/bin/env bash
# Usage: check-config.sh FRAGMENT DOTCONFIG
# Fails (exit 1, listing every mismatch) unless each setting of FRAGMENT holds
# in DOTCONFIG: "CONFIG_X=v" must appear verbatim, "# CONFIG_X is not set"
# means CONFIG_X must be neither =y nor =m. Kconfig silently drops options
# whose dependencies are unmet; this catches it.
set -euo pipefail
frag=$1 cfg=$2
bad=0 n=0
while IFS= read -r line; do
	if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
		sym=${BASH_REMATCH[1]}
		n=$((n + 1))
		if ! grep -qxF -- "$line" "$cfg"; then
			got=$(grep -E "^(# )?${sym}[= ]" "$cfg" || true)
			echo "check-config: want '$line', got '${got:-<absent: dependencies not met>}'" >&2
			bad=$((bad + 1))
		fi
	elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
		sym=${BASH_REMATCH[1]}
		n=$((n + 1))
		if got=$(grep -E "^${sym}=[ym]$" "$cfg"); then
			echo "check-config: want '$sym' off, got '$got' (selected by another option?)" >&2
			bad=$((bad + 1))
		fi
	fi
done < "$frag"
if [ "$bad" -ne 0 ]; then
	echo "check-config: FAILED: $bad of $n settings in $(basename "$frag") do not hold in the final .config" >&2
	exit 1
fi
echo "check-config: all $n settings of $(basename "$frag") hold"
