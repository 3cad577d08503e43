# tests/sh_sshd.sh — sourced by the conc-run tests: sshd_start starts an
# sshd of the test's own on 127.0.0.1 (keys and config in $T), sets $SSH
# to an ssh command that logs in to it without questions, and returns 0;
# else it says why on stdout ("skip: ...") and returns 1. The caller kills
# "$(cat "$T/sshd.pid")" at the end. sshd runs in the foreground (-D) as
# our background job, its pid known at once: one that daemonized would
# write its pid file when it pleased, and a try given up before that
# left it running.
sshd_start() {
	for p in /usr/sbin/sshd ssh ssh-keygen; do
		command -v $p >/dev/null 2>&1 || { echo "skip: ssh tests ($p missing)"; return 1; }
	done
	ssh-keygen -q -t ed25519 -N '' -f "$T/hostkey" && ssh-keygen -q -t ed25519 -N '' -f "$T/key" &&
		cp "$T/key.pub" "$T/auth" && chmod 600 "$T/auth" || { echo "skip: ssh tests (ssh-keygen failed)"; return 1; }
	# sshd wants its privilege separation directory when run as root.
	[ "$(id -u)" = 0 ] && mkdir -p /run/sshd
	port=$((20000 + $$ % 20000))
	for try in 1 2 3; do
		cat > "$T/sshd_config" <<-EOF
		Port $port
		ListenAddress 127.0.0.1
		HostKey $T/hostkey
		AuthorizedKeysFile $T/auth
		PidFile none
		StrictModes no
		UsePAM no
		PermitRootLogin yes
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		EOF
		/usr/sbin/sshd -D -f "$T/sshd_config" -E "$T/sshd.log" </dev/null >/dev/null 2>&1 &
		echo $! > "$T/sshd.pid"
		SSH="ssh -i $T/key -p $port -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR -o ConnectTimeout=30"
		i=0
		while [ $i -lt 100 ] && kill -0 "$(cat "$T/sshd.pid")" 2>/dev/null; do
			timeout 10 $SSH 127.0.0.1 true </dev/null 2>/dev/null && return 0
			i=$((i + 1)); sleep 0.1
		done
		kill "$(cat "$T/sshd.pid")" 2>/dev/null
		wait "$(cat "$T/sshd.pid")" 2>/dev/null
		rm -f "$T/sshd.pid"
		port=$((port + 1))
	done
	echo "skip: ssh tests (sshd does not start here: $(tail -1 "$T/sshd.log" 2>/dev/null))"
	return 1
}
