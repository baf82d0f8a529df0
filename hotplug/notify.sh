# shellcheck shell=sh
# sixgate: what the hooks in this directory share. Install as /usr/lib/sixgate/notify.sh (mode 0644); the hooks
# source it. It tells a running agent to look again at once: one JSON line on the agent's notification socket
# (format: docs/operations.md, "Hooks and the notification socket"), written by socat, which the agent needs
# anyway. No node is started, so a hook costs a few milliseconds and a few MB.
#
# It never fails and never waits more than about a second: no agent (no socket), a stale socket, a busy or hung
# agent and a missing socat all end the same way, silently. SIXGATE_SOCKET names the socket when the agent's
# runtimeDir is not the default (/run/sixgate, which is /var/run/sixgate; on OpenWrt /var/run/sixgate).

# sixgate_notify KIND KEY=VALUE...: sends {"kind":"KIND","KEY":"VALUE",...}; a key with an empty value is left out.
# Values may only hold what the agent accepts in them anyway (interface names, actions, MAC and IPv4 addresses:
# A-Z a-z 0-9 . _ : -), so the line needs no escaping; an event with anything else is dropped here, not sent.
sixgate_notify() {
	sixgate_socket=${SIXGATE_SOCKET:-/var/run/sixgate/notify.sock}
	# No agent: nothing to do, and nothing started.
	[ -S "$sixgate_socket" ] || return 0
	sixgate_line="{\"kind\":\"$1\""
	shift
	for sixgate_pair in "$@"; do
		sixgate_value=${sixgate_pair#*=}
		[ -n "$sixgate_value" ] || continue
		case $sixgate_value in
		*[!A-Za-z0-9._:-]*) return 0 ;;
		esac
		sixgate_line="$sixgate_line,\"${sixgate_pair%%=*}\":\"$sixgate_value\""
	done
	# -u: one way, ending once the line is in the socket (the agent reads it from there). connect-timeout: a full
	# backlog; -T: an agent that stops reading.
	printf '%s}\n' "$sixgate_line" |
		socat -u -T 1 STDIN "UNIX-CONNECT:$sixgate_socket,connect-timeout=1" >/dev/null 2>&1
	return 0
}
