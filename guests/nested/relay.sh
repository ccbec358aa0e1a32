# Sourced at the top of the nested host's run script (guests/nested/host.sh).
# relay_vport NAME SOCKET: while the outer side has a client on virtio-serial
# port NAME, relay it to the UNIX socket SOCKET inside, one connection per
# client, so every client gets its own monitor session (QMP greeting included).
relay_vport() {
	local name=$1 sock=$2 port= p
	for p in /sys/class/virtio-ports/*; do
		[ "$(cat "$p/name" 2>/dev/null)" = "$name" ] && port=$(basename "$p")
	done
	[ -n "$port" ] || { echo "memvm-nested: no virtio-serial port $name" >&2; return 1; }
	local state=/sys/kernel/debug/virtio-ports/$port
	while :; do
		until grep -q '^host_connected: 1' "$state" 2>/dev/null && [ -S "$sock" ]; do sleep 0.1; done
		# Ends when the client goes (EOF on the port) or memvm closes; a
		# client already waiting then gets the next connection at once.
		socat -t 0.2 "/dev/$port" "UNIX-CONNECT:$sock" 2>/dev/null || sleep 0.2
	done
}
