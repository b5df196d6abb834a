# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# The Debian packages as a host gets them (sourced by selftests/run.sh):
# build hvkit-dkms and hvkit-tools from this checkout (tools/mkdeb.sh, as
# "make deb"), install the previous version, upgrade to this one, check
# what DKMS built and what the packages installed, build an initramfs for
# the Debian kernel with the package's hook, then purge and check that
# nothing is left. The modules the package's DKMS built are what the stock
# and nested suites boot (MODKOS), and the previous version's are what the
# deb-upgrade group reloads from (HVKIT_OUT/deb/prev-kos).
#
# Uses count, log, KVER, HVKIT_TOP, HVKIT_OUT, LIB (run.sh).

DEB_PKGS="hvkit-dkms hvkit-tools"

# deb_apt ARGS...: apt-get, quiet and non-interactive, its output in the log.
deb_apt() {
	DEBIAN_FRONTEND=noninteractive apt-get -y -q --no-install-recommends \
		-o Dpkg::Options::=--force-confnew "$@" >>"$DEB_DIR/apt.log" 2>&1
}

# deb_modules: the modules dkms.conf lists.
deb_modules() {
	sed -n 's/^BUILT_MODULE_NAME\[[0-9]*\]="\(.*\)"$/\1/p' "$HVKIT_TOP/dkms.conf"
}

# deb_check NAME CMD...: one counted result.
deb_check() {
	local name=$1
	shift
	echo "== $name" >>"$DEB_DIR/checks.log"
	if "$@" >>"$DEB_DIR/checks.log" 2>&1; then
		count ok "deb: $name"
	else
		count fail "deb: $name"
		DEB_FAILED=yes
		return 1
	fi
}

# deb_nothing_left: no trace of any hvkit version on this machine.
deb_nothing_left() {
	local m p d left=
	for p in $DEB_PKGS; do
		dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^[a-z][a-z]' &&
			left="$left package:$p($(dpkg-query -W -f='${db:Status-Abbrev}' "$p"))"
	done
	[ -z "$(dkms status hvkit 2>/dev/null)" ] || left="$left dkms:$(dkms status hvkit | tr '\n' ' ')"
	for d in /usr/src/hvkit-* /var/lib/dkms/hvkit /etc/modprobe.d/hvkit.conf \
		/usr/sbin/hvkitctl /usr/share/initramfs-tools/hooks/hvkit \
		/lib/systemd/system/hvkit-pvtimer@.service /usr/share/doc/hvkit-tools; do
		[ -e "$d" ] && left="$left $d"
	done
	for m in $(deb_modules); do
		for d in /lib/modules/*/updates/dkms/"$m".ko*; do
			[ -e "$d" ] && left="$left $d"
		done
	done
	[ -z "$left" ] || { echo "left behind:$left"; return 1; }
}

# deb_clean_host: what an earlier run or "make dkms-install" left.
deb_clean_host() {
	local v p
	for p in $DEB_PKGS; do
		if dpkg-query -W "$p" >/dev/null 2>&1; then
			deb_apt purge "$p" || dpkg --purge "$p" >>"$DEB_DIR/apt.log" 2>&1
		fi
	done
	for v in $(dkms status hvkit 2>/dev/null | sed -n 's|^hvkit/\([^,: ]*\).*|\1|p' | sort -u); do
		dkms remove "hvkit/$v" --all >>"$DEB_DIR/apt.log" 2>&1
	done
	rm -rf /usr/src/hvkit-* /var/lib/dkms/hvkit
}

# deb_installed VER DEST: hvkit/VER installed by DKMS for KVER, every
# module of dkms.conf built by it now (newer than the stamp) and signed;
# copies them to DEST.
deb_installed() {
	local ver=$1 dest=$2 m ko
	dkms status "hvkit/$ver" -k "$KVER" | grep -q ': installed' ||
		{ dkms status; return 1; }
	rm -rf "$dest"
	mkdir -p "$dest"
	for m in $(deb_modules); do
		ko=/lib/modules/$KVER/updates/dkms/$m.ko
		[ -f "$ko" ] && [ "$ko" -nt "$DEB_DIR/stamp" ] || { echo "no new $ko"; return 1; }
		[ "$(modinfo -F version "$ko")" = "$ver" ] ||
			{ echo "$ko: version $(modinfo -F version "$ko"), not $ver"; return 1; }
		[ -n "$(modinfo -F signer "$ko")" ] || { echo "$ko: not signed"; return 1; }
		cp "$ko" "$dest/"
	done
}

# deb_only_version VER: DKMS and /usr/src know no other hvkit version.
deb_only_version() {
	local other d
	other=$(dkms status hvkit | grep -v "^hvkit/$1[,:]")
	[ -z "$other" ] || { echo "other versions: $other"; return 1; }
	for d in /usr/src/hvkit-*; do
		[ "$d" = "/usr/src/hvkit-$1" ] || { echo "left: $d"; return 1; }
	done
}

# deb_files VER: what hvkit-tools installs, as it should be.
deb_files() {
	local ver=$1 f
	/usr/sbin/hvkitctl --version | grep -qF "hvkitctl $ver " || return 1
	for f in /usr/share/man/man8/hvkitctl.8.gz \
		/usr/share/bash-completion/completions/hvkitctl \
		/usr/share/initramfs-tools/hooks/hvkit \
		/lib/systemd/system/hvkit-pvtimer@.service \
		/usr/share/doc/hvkit-tools/examples/60-hvkit.rules; do
		[ -s "$f" ] || { echo "missing $f"; return 1; }
	done
	[ -x /usr/share/initramfs-tools/hooks/hvkit ] || return 1
	# The manual page names every command of "hvkitctl --help".
	for f in status kram hybrid idlepoll pvtimer vfio; do
		zcat /usr/share/man/man8/hvkitctl.8.gz | grep -q "hvkitctl $f" ||
			{ echo "man page: no 'hvkitctl $f'"; return 1; }
	done
	# The completion completes a command.
	bash -c '. /usr/share/bash-completion/completions/hvkitctl
		COMP_WORDS=(hvkitctl kr); COMP_CWORD=1; _hvkitctl
		[ "${COMPREPLY[*]}" = kram ]' || { echo "completion: kr -> not kram"; return 1; }
}

# deb_conf_inactive: /etc/modprobe.d/hvkit.conf sets nothing by default.
deb_conf_inactive() {
	[ -f /etc/modprobe.d/hvkit.conf ] || return 1
	dpkg-query -W -f='${Conffiles}' hvkit-tools | grep -q ' /etc/modprobe.d/hvkit.conf ' ||
		{ echo "not a conffile"; return 1; }
	! grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' /etc/modprobe.d/hvkit.conf
}

# deb_unit: the template unit passes systemd's own check, as an instance.
deb_unit() {
	local u=/lib/systemd/system/hvkit-pvtimer@.service
	grep -q '^ExecStart=/usr/sbin/hvkitctl pvtimer serve --socket /run/pvtimer-%i.sock ' "$u" ||
		return 1
	grep -q '^Restart=on-failure' "$u" || return 1
	grep -q '^CapabilityBoundingSet=CAP_SYS_ADMIN$' "$u" || return 1
	mkdir -p "$DEB_DIR/unit"
	cp "$u" "$DEB_DIR/unit/hvkit-pvtimer@vm1.service"
	SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no \
		"$DEB_DIR/unit/hvkit-pvtimer@vm1.service" >"$DEB_DIR/unit/verify.log" 2>&1
	cat "$DEB_DIR/unit/verify.log"
	# Only complaints about the unit itself count (a machine without
	# systemd running as PID 1 complains about other things).
	! grep -E 'hvkit-pvtimer@vm1.service' "$DEB_DIR/unit/verify.log"
}

# deb_trigger DEB: the package activates initramfs-tools' trigger, so
# that installing, upgrading or removing it regenerates the initramfs.
deb_trigger() {
	dpkg-deb --ctrl-tarfile "$1" | tar -xOf - ./triggers 2>/dev/null |
		grep -qx 'activate-noawait update-initramfs'
}

# deb_initramfs: mkinitramfs for the Debian kernel with the package's hook
# and hvkitctl's softdep file, then without that file. The Debian kernel
# is not installed here (its modules are unpacked into the cache by
# stock-kernel.sh): a private mount namespace lays them under
# /lib/modules/KVER beside what DKMS installed, for mkinitramfs alone.
deb_initramfs() {
	local root d=$DEB_DIR/initramfs claim=/etc/modprobe.d/hvkit-vfio-preserve.conf rc=0
	root=$("$LIB/stock-kernel.sh")/root || return 1
	rm -rf "$d"
	mkdir -p "$d"/{upper,work,conf}
	# initramfs-tools' own configuration, with only the listed modules
	# (and what the hooks add): MODULES=dep would ask this machine's
	# hardware, not the target's.
	cp -a /etc/initramfs-tools/. "$d/conf/"
	sed -i 's/^MODULES=.*/MODULES=list/; s/^COMPRESS=.*/COMPRESS=gzip/' "$d/conf/initramfs.conf"
	[ -e "$claim" ] && { echo "$claim exists on this machine: not touching it"; return 1; }
	printf '%s\n' "# hvkit selftests (deb_initramfs): hvkitctl vfio preserve's format" \
		"softdep e1000e pre: vfio_preserve	# 0000:01:00.0" >"$claim"
	unshare -m bash -ec '
		mount -t overlay hvkit -o "lowerdir=/lib/modules/$1:$2/lib/modules/$1,upperdir=$3/upper,workdir=$3/work" "/lib/modules/$1"
		mount --bind "$2/boot" /boot
		depmod "$1"
		mkinitramfs -d "$3/conf" -o "$3/with-claim.img" "$1"
		rm -f "$4"
		mkinitramfs -d "$3/conf" -o "$3/without-claim.img" "$1"
	' hvkit-initramfs "$KVER" "$root" "$d" "$claim" >"$d/mkinitramfs.log" 2>&1 || rc=1
	rm -f "$claim"
	[ $rc = 0 ] || { cat "$d/mkinitramfs.log"; return 1; }
	lsinitramfs "$d/with-claim.img" >"$d/with-claim.list" &&
		lsinitramfs "$d/without-claim.img" >"$d/without-claim.list"
}

# step_deb: the whole package cycle; sets MODKOS to the modules the
# package's DKMS built for KVER.
step_deb() {
	local ver prev d
	DEB_DIR=$HVKIT_OUT/deb
	DEB_FAILED=no
	ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$HVKIT_TOP/dkms.conf")
	# The previous version: these sources under a lower version number
	# (Debian orders 0.1.0~prev before 0.1.0). No earlier version was
	# ever packaged; kram's format is checked across versions by the
	# upgrade group, which reloads from the previous build's modules.
	prev=$ver~prev
	rm -rf "$DEB_DIR"
	mkdir -p "$DEB_DIR"
	d=$DEB_DIR
	deb_clean_host
	if ! "$HVKIT_TOP/tools/mkdeb.sh" "$d/cur" >"$d/build.log" 2>&1; then
		cat "$d/build.log"
		count fail "deb: make deb (dpkg-buildpackage, dh-dkms, lintian) for $ver"
		return 1
	fi
	count ok "deb: make deb builds hvkit-dkms and hvkit-tools $ver, lintian clean"
	deb_check "hvkit-tools activates the update-initramfs trigger" \
		deb_trigger "$d/cur/hvkit-tools_${ver}_amd64.deb"
	if ! "$HVKIT_TOP/tools/mkdeb.sh" --no-lintian --version "$prev" "$d/prev" >"$d/build-prev.log" 2>&1; then
		cat "$d/build-prev.log"
		count fail "deb: build the previous version $prev"
		return 1
	fi
	touch "$d/stamp"
	sleep 1
	deb_check "apt install hvkit $prev" deb_apt install "$d"/prev/*.deb
	deb_check "DKMS built, signed and installed hvkit/$prev for $KVER" \
		deb_installed "$prev" "$d/prev-kos"
	touch "$d/stamp"
	sleep 1
	deb_check "apt install hvkit $ver: an upgrade from $prev" deb_apt install "$d"/cur/*.deb
	deb_check "both packages at $ver" sh -c \
		"[ \"\$(dpkg-query -W -f='\${Version} \${Status}\n' $DEB_PKGS | sort -u)\" = '$ver install ok installed' ]"
	deb_check "DKMS built, signed and installed hvkit/$ver for $KVER" \
		deb_installed "$ver" "$d/kos"
	deb_check "the upgrade removed $prev from DKMS and /usr/src" deb_only_version "$ver"
	deb_check "hvkitctl $ver, its manual page, completion, hook, unit, udev example" \
		deb_files "$ver"
	deb_check "/etc/modprobe.d/hvkit.conf: a conffile, every line commented out" \
		deb_conf_inactive
	deb_check "hvkit-pvtimer@.service: serve on /run/pvtimer-%i.sock, restarts, CAP_SYS_ADMIN only" \
		deb_unit
	if deb_check "mkinitramfs for $KVER with the package's hook" deb_initramfs; then
		deb_check "initramfs with an armed device: kram, vfio_preserve, the native driver" sh -c \
			"grep -qE '/updates/dkms/kram\.ko' $d/initramfs/with-claim.list &&
			 grep -qE '/updates/dkms/vfio_preserve\.ko' $d/initramfs/with-claim.list &&
			 grep -qE '/e1000e\.ko' $d/initramfs/with-claim.list"
		deb_check "initramfs with an armed device: the softdep file and hvkit.conf" sh -c \
			"grep -qx 'etc/modprobe.d/hvkit-vfio-preserve.conf' $d/initramfs/with-claim.list &&
			 grep -qx 'etc/modprobe.d/hvkit.conf' $d/initramfs/with-claim.list"
		deb_check "initramfs without an armed device: no hvkit module" sh -c \
			"grep -q 'modules.dep' $d/initramfs/without-claim.list &&
			 ! grep -qE '/(kram|vfio_preserve)\.ko' $d/initramfs/without-claim.list"
	fi
	deb_check "apt purge hvkit-dkms hvkit-tools" deb_apt purge $DEB_PKGS
	deb_check "nothing of hvkit is left (dpkg, dkms, /usr/src, /lib/modules, /etc)" deb_nothing_left
	[ "$DEB_FAILED" = no ] || { tail -n 40 "$d/checks.log"; return 1; }
	# shellcheck disable=SC2034 # run.sh's
	MODKOS=$(for m in $(deb_modules); do printf ' %s' "$d/kos/$m.ko"; done)
}
