#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# hvkit-tools on a host that runs systemd (group systemd: a Debian VM with
# systemd as PID 1, lib/rootfs.sh). The package built by the package cycle
# (lib/deb.sh) is installed with dpkg -i here, so its maintainer scripts
# meet a live systemd, and the template unit hvkit-pvtimer@.service does
# its real job under its sandbox: a nested QEMU started with the README's
# ivshmem-doorbell arguments connects to /run/pvtimer-vm1.sock and the
# server attaches it to pvtimer_agent (the package's DKMS build). Then
# SIGKILL (Restart=on-failure), stop, the udev rules example, dpkg -r and
# --purge.
# shellcheck source=selftests/tests/tap_lib.sh
. /hvkit/tests/tap_lib
echo "TAP version 13"
I=vm1
U=hvkit-pvtimer@$I.service
UNIT=/lib/systemd/system/hvkit-pvtimer@.service
SOCK=/run/pvtimer-$I.sock
CONF=/etc/hvkit/pvtimer-$I.conf
# Not the unit's default (2): the server's argv shows that CONF counts.
VCPUS=3
CTL=/usr/sbin/hvkitctl
VMS=/sys/kernel/debug/pvtimer_agent/vms
D=/tmp/systemd_pvtimer
rm -rf $D
mkdir -p $D
QPIDS=
cleanup() {
	local p
	for p in $QPIDS; do
		kill -KILL "$p" 2>/dev/null
	done
}
trap cleanup EXIT

prop() { systemctl show -p "$1" --value "$U"; }
# is WANT CMD...: CMD prints WANT (what it printed instead is shown).
is() {
	local want=$1 got
	shift
	got=$("$@" 2>&1)
	[ "$got" = "$want" ] && return 0
	echo "# got '$got', want '$want'"
	return 1
}
# wait_until TENTHS CMD...: CMD succeeds within TENTHS tenths of a second
# (of wall time: a try of systemctl show takes a while under TCG).
wait_until() {
	local end=$((SECONDS + ($1 + 9) / 10))
	shift
	until "$@"; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.1
	done
}
# reloads: how often systemd (PID 1) has reloaded its units in this boot.
reloads() { journalctl -b -q _PID=1 -o cat | grep -c '^Reloading'; }
# sock: the socket's owner, group, mode and type.
sock() { stat -c '%U %G %a %F' "$SOCK"; }
# caps PID: the capability sets of PID.
caps() { grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' "/proc/$1/status" | tr -s '\t ' ' '; }
# in_ns PID SCRIPT [ARG...]: sh -c SCRIPT in PID's mount namespace; fails
# when PID has none (nsenter fails) as when SCRIPT does.
in_ns() {
	local p=$1
	shift
	[ "${p:-0}" -gt 1 ] && nsenter -t "$p" -m -- sh -c "$@"
}
# in_cgroup PID DEV: open DEV read-write from a process in PID's cgroup,
# which must be the service's (its device policy applies).
in_cgroup() {
	local cg
	cg=$(sed -n 's/^0:://p' "/proc/${1:-0}/cgroup" 2>/dev/null)
	case "$cg" in
	*/"$U") ;;
	*) echo "# PID '$1' is not in $U's cgroup ('$cg')"; return 1 ;;
	esac
	sh -c 'echo $$ >"$1/cgroup.procs" && exec 3<>"$2"' in_cgroup "/sys/fs/cgroup$cg" "$2"
}
# props NAME...: these properties of the instance, on one line.
props() {
	local p out=
	for p in "$@"; do
		out="$out${out:+ }$(prop "$p")"
	done
	echo "$out"
}
# kvm_closed PID: /dev/kvm does not open in PID's cgroup (which must be
# the service's), and does outside.
kvm_closed() {
	in_cgroup "$1" /dev/null || return 1
	! in_cgroup "$1" /dev/kvm 2>/dev/null && (exec 3<>/dev/kvm)
}
# attached QPID: the agent serves QEMU QPID's VCPUS vCPUs.
attached() { [ "$(awk -v p="$1" '$2 == p' $VMS | wc -l)" = $VCPUS ]; }
none_attached() { [ "$(grep -vc '^id ' $VMS)" = 0 ]; }
# detached QPID: QPID was attached (ATTACHED lists it) and now no VM is.
detached() {
	case " $ATTACHED " in *" $1 "*) ;; *) echo "# $1 was never attached"; return 1 ;; esac
	wait_until 300 none_attached
}
ATTACHED=
# attach_ok QPID: QEMU QPID gets attached within 60 s (noted in ATTACHED).
attach_ok() { wait_until 600 attached "$1" && ATTACHED="$ATTACHED $1"; }
# own_ns PID NS...: PID has each namespace NS of its own (not PID 1's).
own_ns() {
	local p=${1:-0} ns a b
	shift
	for ns in "$@"; do
		a=$(readlink "/proc/$p/ns/$ns") && b=$(readlink "/proc/1/ns/$ns") &&
			[ "$a" != "$b" ] || return 1
	done
}
# kill_main PID: SIGKILL PID, a process (never 0: the test's own group).
kill_main() { [ "${1:-0}" -gt 1 ] && kill -KILL "$1"; }
# tsc_match QPID: each of the VCPUS attached vCPUs' TSC offset is the one
# in KVM's debugfs (the sandboxed server read it there).
tsc_match() {
	local pid v off n=0
	while read -r _ pid v off _; do
		[ "$pid" = "$1" ] || continue
		[ "$(cat /sys/kernel/debug/kvm/"$1"-*/vcpu"$v"/tsc-offset)" = "$off" ] || return 1
		n=$((n + 1))
	done <$VMS
	[ $n = $VCPUS ]
}
# qemu_vm: QEMU (paused, KVM, VCPUS vCPUs) with the README's pvtimer
# arguments, in the background: QPID.
qemu_vm() {
	qemu-system-x86_64 -L /usr/share/qemu -enable-kvm -cpu host,-xsave -M pc \
		-smp $VCPUS -m 64 -nodefaults -no-user-config -display none -S -monitor none \
		-chardev socket,id=pvt,path=$SOCK -device ivshmem-doorbell,chardev=pvt,vectors=$VCPUS \
		>>$D/qemu.log 2>&1 &
	QPID=$!
	QPIDS="$QPIDS $QPID"
}
journal() { journalctl -q -b -u "$U" -o cat >$D/journal; }
show_journal() { journal; sed 's/^/# journal: /' $D/journal; }

# ---- the package
deb=$(ls /hvkit/debs/hvkit-tools_*.deb)
ver=$(dpkg-deb -f "$deb" Version)
r0=$(reloads)
check "dpkg -i $(basename "$deb")" sh -c "dpkg -i $deb >$D/dpkg-i.log 2>&1"
sed 's/^/# dpkg -i: /' $D/dpkg-i.log
check "hvkit-tools $ver installed" is "install ok installed $ver" \
	dpkg-query -W -f='${Status} ${Version}' hvkit-tools
check "its postinst reloaded systemd (daemon-reload: $r0 reloads before)" \
	[ "$(reloads)" -gt "$r0" ]
check "systemd loads $U from $UNIT" is "loaded $UNIT" props LoadState FragmentPath
check "Type=notify, Restart=on-failure" is "notify on-failure" props Type Restart
check "the package started no instance" \
	is "" systemctl list-units --no-legend --state=active,activating,failed 'hvkit-pvtimer@*'

# ---- ConditionPathExists=/dev/pvtimer_agent
check "pvtimer_agent not loaded yet" [ ! -e /dev/pvtimer_agent ]
check "without the agent, start is skipped (ConditionPathExists), not failed" sh -c \
	"systemctl start $U && [ \"\$(systemctl show -p ConditionResult --value $U)\" = no ] &&
	 [ \"\$(systemctl show -p ActiveState --value $U)\" = inactive ]"

# ---- the agent, as DKMS built it
check "modprobe pvtimer_agent (scan_us=1000)" modprobe pvtimer_agent scan_us=1000
check "pvtimer_agent $ver from updates/ (the package's DKMS build)" sh -c \
	"[ \"\$(cat /sys/module/pvtimer_agent/version)\" = $ver ] &&
	 modinfo -n pvtimer_agent | grep -q /updates/"

# ---- start: Type=notify, the socket, the configuration
mkdir -p /etc/hvkit
echo "VCPUS=$VCPUS" >$CONF
check "systemctl start $U" systemctl start $U
# Type=notify: start returns once READY=1 came, which the server sends
# after listen(): the socket is there, with no wait.
check "$SOCK is there when start returns (Type=notify, READY=1)" [ -S $SOCK ]
check "active running success, NRestarts 0" is "active running success 0" \
	props ActiveState SubState Result NRestarts
# bind() makes the node 0777 & ~UMask: 0700, nothing for group or others.
check "$SOCK: root's, mode 700 (UMask=0077)" is "root root 700 socket" sock
pid=$(prop MainPID)
tr '\0' ' ' </proc/"$pid"/cmdline >$D/cmdline
echo "# main PID $pid: $(cat $D/cmdline)"
check "main PID runs pvtimer serve --socket $SOCK --vcpus $VCPUS ($CONF)" \
	grep -q -- "pvtimer serve --socket $SOCK --vcpus $VCPUS --size 65536 " $D/cmdline

# ---- the sandbox of the running server
check "capabilities: CAP_SYS_ADMIN only (Prm, Eff, Bnd), none inheritable or ambient" \
	is "CapInh: 0000000000000000
CapPrm: 0000000000200000
CapEff: 0000000000200000
CapBnd: 0000000000200000
CapAmb: 0000000000000000" caps "$pid"
check "NoNewPrivs 1" grep -q '^NoNewPrivs:[[:space:]]*1$' /proc/"$pid"/status
check "Seccomp 2 (SystemCallFilter)" grep -q '^Seccomp:[[:space:]]*2$' /proc/"$pid"/status
check "its own mount and network namespaces (ProtectSystem, PrivateNetwork)" \
	own_ns "$pid" mnt net
# A write that fails there (the probe is removed if it did not).
ro='for f; do if touch "$f" 2>/dev/null; then rm -f "$f"; exit 1; fi; done'
check "in its mount namespace /usr and /etc are read-only (ProtectSystem=strict)" \
	in_ns "$pid" "$ro" ro /usr/.hvkit-probe /etc/.hvkit-probe
check "and /run is writable (ReadWritePaths=/run)" \
	in_ns "$pid" 'touch /run/.hvkit-probe && rm /run/.hvkit-probe'
par=/sys/module/pvtimer_agent/parameters/scan_us
check "and /sys is read-only (ProtectKernelTunables; writable outside)" sh -c \
	"nsenter -t ${pid:-0} -m -- sh -c 'if echo 1000 >$par; then exit 1; fi' 2>/dev/null &&
	 echo 1000 >$par"
check "and KVM's debugfs is readable" in_ns "$pid" 'test -r /sys/kernel/debug/kvm'
# (nsenter's shell is root with every capability: it could list an empty
# mode-000 /root, so the checks look for the host's files in there.)
touch /tmp/.hvkit-probe /root/.hvkit-probe
check "and /root is empty (ProtectHome), /tmp is its own (PrivateTmp)" in_ns "$pid" \
	'[ ! -e /root/.hvkit-probe ] && [ ! -e /tmp/.hvkit-probe ] && [ -d /tmp ]'
rm -f /tmp/.hvkit-probe /root/.hvkit-probe
check "in its cgroup /dev/pvtimer_agent opens (DeviceAllow)" in_cgroup "$pid" /dev/pvtimer_agent
check "in its cgroup /dev/kvm does not (DevicePolicy=closed; opens outside)" kvm_closed "$pid"

# ---- its job: a QEMU VM with the README's arguments, attached
qemu_vm
q1=$QPID
echo "# QEMU pid $q1"
check "QEMU's ivshmem-doorbell attached: $VCPUS vCPUs in the agent's vms" \
	attach_ok $q1
sed 's/^/# vms: /' $VMS
check "the agent has KVM's TSC offsets (debugfs read in the sandbox)" wait_until 300 tsc_match $q1
journal
check "journal: VM pid $q1 attached" grep -q "VM pid $q1 attached as id" $D/journal
check "hvkitctl pvtimer status: 1 VM attached, $VCPUS vCPUs" sh -c \
	"$CTL pvtimer status >$D/status && grep -qE '^attached: *1$' $D/status &&
	 grep -qE '^vcpus: *$VCPUS$' $D/status"

# ---- SIGKILL: Restart=on-failure
ino=$(stat -c %i $SOCK)
check "SIGKILL the main PID $pid" kill_main "$pid"
check "the agent detached the VM (the server's file closed)" detached $q1
check "restarted: active running, NRestarts 1 (RestartSec=2s)" \
	wait_until 600 is "active running 1" props ActiveState SubState NRestarts
pid2=$(prop MainPID)
check "a new main PID ($pid -> $pid2)" [ "$pid2" != "$pid" -a "$pid2" != 0 ]
check "a new $SOCK (inode $ino before), root's, 700" sh -c \
	"[ \$(stat -c %i $SOCK) != $ino ] && [ \"\$(stat -c '%U %a %F' $SOCK)\" = 'root 700 socket' ]"
kill -KILL "$q1"
qemu_vm
q2=$QPID
check "the restarted server attaches a new QEMU (pid $q2)" attach_ok $q2
kill -KILL "$q2"
check "QEMU gone: the server detached it" detached $q2
check "the server still runs, not restarted" is "active running success 1" props ActiveState SubState Result NRestarts

# ---- stop
check "systemctl stop $U" systemctl stop $U
check "inactive dead success (not failed)" is "inactive dead success" \
	props ActiveState SubState Result
check "$SOCK removed" [ ! -e $SOCK ]
journal
check "journal: the server ended on SIGTERM" grep -q 'pvtimer serve: Terminated, exiting' $D/journal

# ---- the udev rules example (a non-root group)
rules=/usr/share/doc/hvkit-tools/examples/60-hvkit.rules
check "/dev/pvtimer_agent without the rules: root root 600" \
	is "root root 600" stat -c '%U %G %a' /dev/pvtimer_agent
check "the example rules: groupadd hvkit, copy, reload, trigger" sh -c \
	"groupadd --system hvkit && cp $rules /etc/udev/rules.d/ &&
	 udevadm control --reload && udevadm trigger --subsystem-match=misc &&
	 udevadm settle --timeout=30"
check "/dev/pvtimer_agent: root hvkit 660" \
	is "root hvkit 660" stat -c '%U %G %a' /dev/pvtimer_agent
check "a member of hvkit, not root, reads the agent's status" \
	setpriv --reuid=nobody --regid=hvkit --clear-groups --inh-caps=-all $CTL pvtimer status
check "a user outside hvkit may not (EACCES)" sh -c \
	"! setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all \
	   $CTL pvtimer status >$D/nobody.log 2>&1 && grep -q 'Permission denied' $D/nobody.log"

# ---- removal
check "systemctl start $U again" systemctl start $U
r1=$(reloads)
check "dpkg -r hvkit-tools" sh -c "dpkg -r hvkit-tools >$D/dpkg-r.log 2>&1"
sed 's/^/# dpkg -r: /' $D/dpkg-r.log
check "its prerm stopped the instance: inactive, socket removed" sh -c \
	"[ \"\$(systemctl show -p ActiveState --value $U)\" = inactive ] && [ ! -e $SOCK ]"
check "its postrm reloaded systemd ($r1 reloads before)" [ "$(reloads)" -gt "$r1" ]
check "$U is not found any more" is not-found prop LoadState
check "no failed unit" is "" systemctl list-units --no-legend --state=failed
check "dpkg --purge hvkit-tools" sh -c "dpkg --purge hvkit-tools >$D/dpkg-p.log 2>&1"
check "nothing left: package, hvkitctl, unit, modprobe.d file, examples" sh -c \
	"! dpkg-query -W hvkit-tools >/dev/null 2>&1 && [ ! -e $CTL ] && [ ! -e $UNIT ] &&
	 [ ! -e /etc/modprobe.d/hvkit.conf ] && [ ! -e /usr/share/doc/hvkit-tools ]"
check "the administrator's $CONF stays" [ -f $CONF ]
check "modprobe -r pvtimer_agent (no server holds it)" modprobe -r pvtimer_agent
[ $rc = 0 ] || show_journal
exit $rc
