# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# The Debian packages as a host gets them (sourced by selftests/run.sh):
# build hvkit-dkms and hvkit-tools from this checkout (tools/mkdeb.sh, as
# "make deb"), install the previous version, upgrade to this one, check
# what DKMS built and what the packages installed, build an initramfs for
# the Debian kernel with the package's hook, then purge and check that
# nothing is left. The modules the package's DKMS built are what the stock
# and nested suites boot (DEB_KOS), and the previous version's are what the
# deb-upgrade group reloads from (HVKIT_OUT/deb/prev-kos).
#
# This changes the machine (packages, /usr/src, /lib/modules): one run at a
# time per machine (a lock in /run/lock), whatever the checkout.
#
# Uses count, log, KVER, HVKIT_TOP, HVKIT_OUT, LIB (run.sh).

DEB_PKGS="hvkit-dkms hvkit-tools"
DEB_LOCK=/run/lock/hvkit-deb.lock

# deb_apt ARGS...: apt-get, quiet and non-interactive, its output in the log.
deb_apt() {
	# Without the run's tag (run.sh: cleanup): a stopped run lets apt
	# and dpkg finish, as a half-done dpkg would break this machine's
	# next apt-get.
	DEBIAN_FRONTEND=noninteractive env -u HVKIT_RUN_TAG apt-get -y -q --no-install-recommends \
		-o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confnew "$@" \
		>>"$DEB_DIR/apt.log" 2>&1
}

# deb_modules: the modules dkms.conf lists.
deb_modules() {
	sed -n 's/^BUILT_MODULE_NAME\[[0-9]*\]="\(.*\)"$/\1/p' "$HVKIT_TOP/dkms.conf"
}

# deb_kernels: the kernels with headers (a build/include), as DKMS sees them.
deb_kernels() {
	local dir
	for dir in /lib/modules/*; do
		[ -e "$dir/build/include" ] && echo "${dir##*/}"
	done
}

# deb_check NAME CMD...: one counted result; its output in checks.log.
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
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -qv 'not-installed$' &&
			left="$left package:$p($(dpkg-query -W -f='${Status}' "$p"))"
	done
	[ -z "$(dkms status hvkit 2>/dev/null)" ] || left="$left dkms:$(dkms status hvkit | tr '\n' ' ')"
	for d in /usr/src/hvkit-* /var/lib/dkms/hvkit /etc/modprobe.d/hvkit.conf \
		/etc/modprobe.d/hvkit-vfio-preserve.conf /usr/sbin/hvkitctl \
		/usr/share/initramfs-tools/hooks/hvkit /lib/systemd/system/hvkit-pvtimer@.service \
		/usr/share/doc/hvkit-tools /usr/share/doc/hvkit-dkms; do
		[ -e "$d" ] && left="$left $d"
	done
	for m in $(deb_modules); do
		for d in /lib/modules/*/updates/dkms/"$m".ko*; do
			[ -e "$d" ] && left="$left $d"
		done
	done
	[ -z "$left" ] || { echo "left behind:$left"; return 1; }
}

# deb_clean_host: what an earlier run, "make dkms-install" or "make
# install" left: DKMS refuses to install over a module of the same version
# elsewhere in /lib/modules/K.
deb_clean_host() {
	local v p m f
	for p in $DEB_PKGS; do
		if dpkg-query -W "$p" >/dev/null 2>&1; then
			deb_apt purge "$p" || env -u HVKIT_RUN_TAG dpkg --purge "$p" >>"$DEB_DIR/apt.log" 2>&1
		fi
	done
	for v in $(dkms status hvkit 2>/dev/null | sed -n 's|^hvkit/\([^,: ]*\).*|\1|p' | sort -u); do
		env -u HVKIT_RUN_TAG dkms remove "hvkit/$v" --all >>"$DEB_DIR/apt.log" 2>&1
	done
	rm -rf /usr/src/hvkit-* /var/lib/dkms/hvkit /lib/modules/*/updates/hvkit
	for m in $(deb_modules); do
		for f in /lib/modules/*/updates/dkms/"$m".ko*; do
			[ -e "$f" ] && rm -f "$f"
		done
	done
}

# deb_installed VER [DEST]: hvkit/VER installed by DKMS for KVER, every
# module of dkms.conf built by it now (newer than the stamp), of version
# VER and signed; copies them to DEST.
deb_installed() {
	local ver=$1 dest=${2:-} m ko
	dkms status "hvkit/$ver" -k "$KVER" | grep -q ': installed' ||
		{ dkms status; return 1; }
	if [ -n "$dest" ]; then
		rm -rf "$dest"
		mkdir -p "$dest"
	fi
	for m in $(deb_modules); do
		ko=/lib/modules/$KVER/updates/dkms/$m.ko
		[ -f "$ko" ] && [ "$ko" -nt "$DEB_DIR/stamp" ] || { echo "no new $ko"; return 1; }
		[ "$(modinfo -F version "$ko")" = "$ver" ] ||
			{ echo "$ko: version $(modinfo -F version "$ko"), not $ver"; return 1; }
		[ -n "$(modinfo -F signer "$ko")" ] || { echo "$ko: not signed"; return 1; }
		[ -z "$dest" ] || cp "$ko" "$dest/"
	done
}

# deb_every_kernel VER: installed for every kernel with headers.
deb_every_kernel() {
	local k n=0
	for k in $(deb_kernels); do
		n=$((n + 1))
		dkms status "hvkit/$1" -k "$k" | grep -q ': installed' ||
			{ echo "not installed for $k"; dkms status; return 1; }
	done
	echo "installed for $n kernels: $(deb_kernels | tr '\n' ' ')"
	[ "$n" -ge 2 ]
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
	local ver=$1 f man
	/usr/sbin/hvkitctl --version | grep -qF "hvkitctl $ver " || return 1
	for f in /usr/share/man/man8/hvkitctl.8.gz \
		/usr/share/bash-completion/completions/hvkitctl \
		/usr/share/initramfs-tools/hooks/hvkit \
		/lib/systemd/system/hvkit-pvtimer@.service \
		/usr/share/doc/hvkit-tools/examples/60-hvkit.rules; do
		[ -s "$f" ] || { echo "missing $f"; return 1; }
	done
	[ -x /usr/share/initramfs-tools/hooks/hvkit ] || return 1
	# The manual page names every command of "hvkitctl --help". Read
	# whole first: under run.sh's pipefail, "zcat | grep -q" fails when
	# grep quits before zcat's last write (SIGPIPE), which it does once
	# the page is over gzip's 32 KiB output buffer.
	man=$(zcat /usr/share/man/man8/hvkitctl.8.gz) || { echo "man page: zcat failed"; return 1; }
	for f in status kram hybrid idlepoll pvtimer vfio; do
		grep -q "hvkitctl $f" <<<"$man" ||
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
	grep -q '^Type=notify$' "$u" || return 1
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

# deb_triggers DEB...: each activates initramfs-tools' trigger, so that
# installing, upgrading or removing it regenerates the initramfs.
deb_triggers() {
	local f
	for f in "$@"; do
		dpkg-deb --ctrl-tarfile "$f" | tar -xOf - ./triggers 2>/dev/null |
			grep -qx 'activate-noawait update-initramfs' || { echo "$f: no trigger"; return 1; }
	done
}

# deb_initramfs: mkinitramfs for the Debian kernel with the package's hook,
# with an armed device (hvkitctl's softdep file) and kram's region= active
# in hvkit.conf, then without the softdep file. Nothing of this touches
# the machine: the Debian kernel is not installed here (its modules are
# unpacked in the cache by stock-kernel.sh), so a private mount namespace
# lays them under /lib/modules/KVER beside what DKMS installed, and puts a
# copy of /etc/modprobe.d, with the two files, over the real one.
deb_initramfs() {
	local root d=$DEB_DIR/initramfs rc=0
	root=$("$LIB/stock-kernel.sh")/root || return 1
	rm -rf "$d"
	mkdir -p "$d"/{upper,work,conf,modprobe.d}
	# initramfs-tools' own configuration, with only the listed modules
	# (and what the hooks add): MODULES=dep would ask this machine's
	# hardware, not the target's.
	cp -a /etc/initramfs-tools/. "$d/conf/"
	sed -i 's/^MODULES=.*/MODULES=list/; s/^COMPRESS=.*/COMPRESS=gzip/' "$d/conf/initramfs.conf"
	cp -a /etc/modprobe.d/. "$d/modprobe.d/"
	printf '%s\n' "# hvkit selftests (deb_initramfs): hvkitctl vfio preserve's format" \
		"# native driver of 0000:01:00.0" "softdep e1000e pre: vfio_preserve" \
		>"$d/modprobe.d/hvkit-vfio-preserve.conf"
	printf '%s\n' "options kram region=64M@0x100000000" >>"$d/modprobe.d/hvkit.conf"
	unshare -m bash -ec '
		mount --make-rprivate /
		mount -t overlay hvkit -o "lowerdir=/lib/modules/$1:$2/lib/modules/$1,upperdir=$3/upper,workdir=$3/work" "/lib/modules/$1"
		mount --bind "$2/boot" /boot
		mount --bind "$3/modprobe.d" /etc/modprobe.d
		depmod "$1"
		mkinitramfs -d "$3/conf" -o "$3/with-claim.img" "$1"
		rm -f /etc/modprobe.d/hvkit-vfio-preserve.conf
		mkinitramfs -d "$3/conf" -o "$3/without-claim.img" "$1"
	' hvkit-initramfs "$KVER" "$root" "$d" >"$d/mkinitramfs.log" 2>&1 || rc=1
	[ $rc = 0 ] || { cat "$d/mkinitramfs.log"; return 1; }
	lsinitramfs "$d/with-claim.img" >"$d/with-claim.list" &&
		lsinitramfs "$d/without-claim.img" >"$d/without-claim.list" &&
		unmkinitramfs "$d/with-claim.img" "$d/with-claim"
}

# deb_in_image FILE REGEX: the unpacked initramfs's FILE has a line REGEX.
deb_in_image() {
	local f
	f=$(find "$DEB_DIR/initramfs/with-claim" -path "*/$1" | head -n1)
	[ -n "$f" ] || { echo "no $1 in the initramfs"; return 1; }
	grep -qE "$2" "$f"
}

# deb_image_conf: the initramfs holds both configuration lines.
deb_image_conf() {
	deb_in_image etc/modprobe.d/hvkit-vfio-preserve.conf '^softdep e1000e pre: vfio_preserve$' &&
		deb_in_image etc/modprobe.d/hvkit.conf '^options kram region=64M@0x100000000$'
}

# deb_prev_build VER OUT: the previous version's packages into OUT, from
# the newest release tag (vX.Y.Z) before this version when there is one;
# else these sources relabelled VER~prev. Sets DEB_PREV, DEB_PREV_FROM.
deb_prev_build() {
	local ver=$1 out=$2 tag t src
	for t in $(git -C "$HVKIT_TOP" tag --merged HEAD --list 'v[0-9]*' --sort=-v:refname 2>/dev/null); do
		[ "${t#v}" = "$ver" ] && continue
		tag=$t
		break
	done
	if [ -n "${tag:-}" ]; then
		DEB_PREV=${tag#v} DEB_PREV_FROM="tag $tag"
		src=$DEB_DIR/prev-src
		rm -rf "$src"
		mkdir -p "$src"
		git -C "$HVKIT_TOP" archive "$tag" | tar -xf - -C "$src" &&
			"$src/tools/mkdeb.sh" --no-lintian "$out"
	else
		DEB_PREV=$ver~prev DEB_PREV_FROM="these sources relabelled (no release tag yet)"
		"$HVKIT_TOP/tools/mkdeb.sh" --no-lintian --version "$DEB_PREV" "$out"
	fi
}

# step_deb: the whole package cycle. Sets DEB_KOS to the modules the
# package's DKMS built for KVER as soon as they are there (the suites boot
# them even if a later package check fails); non-zero if anything failed.
step_deb() {
	local ver d lockfd
	DEB_DIR=$HVKIT_OUT/deb
	DEB_FAILED=no
	DEB_KOS=
	ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$HVKIT_TOP/dkms.conf")
	rm -rf "$DEB_DIR"
	mkdir -p "$DEB_DIR"
	d=$DEB_DIR
	exec {lockfd}>"$DEB_LOCK"
	if ! flock -w 900 "$lockfd"; then
		count fail "deb: another run holds $DEB_LOCK (15 min)"
		exec {lockfd}>&-
		return 1
	fi
	step_deb_locked "$ver" "$d"
	exec {lockfd}>&-
	[ "$DEB_FAILED" = no ] || { tail -n 40 "$d/checks.log"; return 1; }
}

step_deb_locked() {
	local ver=$1 d=$2 m
	deb_clean_host
	if ! "$HVKIT_TOP/tools/mkdeb.sh" "$d/cur" >"$d/build.log" 2>&1; then
		cat "$d/build.log"
		count fail "deb: make deb (dpkg-buildpackage, dh-dkms, lintian) for $ver"
		DEB_FAILED=yes
		return
	fi
	count ok "deb: make deb builds hvkit-dkms and hvkit-tools $ver, lintian clean"
	deb_check "both packages activate the update-initramfs trigger" \
		deb_triggers "$d"/cur/*.deb
	if ! deb_prev_build "$ver" "$d/prev" >"$d/build-prev.log" 2>&1; then
		cat "$d/build-prev.log"
		count fail "deb: build the previous version ${DEB_PREV:-?} (${DEB_PREV_FROM:-?})"
		DEB_FAILED=yes
		return
	fi
	count ok "deb: the previous version $DEB_PREV built from $DEB_PREV_FROM"
	touch "$d/stamp"
	sleep 1
	deb_check "apt install hvkit $DEB_PREV" deb_apt install "$d"/prev/*.deb
	deb_check "DKMS built, signed and installed hvkit/$DEB_PREV for $KVER" \
		deb_installed "$DEB_PREV" "$d/prev-kos"
	touch "$d/stamp"
	sleep 1
	deb_check "apt install hvkit $ver: an upgrade from $DEB_PREV" deb_apt install "$d"/cur/*.deb
	deb_check "both packages at $ver" sh -c \
		"[ \"\$(dpkg-query -W -f='\${Version} \${Status}\n' $DEB_PKGS | sort -u)\" = '$ver install ok installed' ]"
	if deb_check "DKMS built, signed and installed hvkit/$ver for $KVER" \
		deb_installed "$ver" "$d/kos"; then
		# shellcheck disable=SC2034 # run.sh's
		DEB_KOS=$(for m in $(deb_modules); do printf ' %s' "$d/kos/$m.ko"; done)
	fi
	deb_check "hvkit/$ver installed for every kernel with headers" deb_every_kernel "$ver"
	deb_check "the upgrade removed $DEB_PREV from DKMS and /usr/src" deb_only_version "$ver"
	deb_check "hvkitctl $ver, its manual page, completion, hook, unit, udev example" \
		deb_files "$ver"
	deb_check "/etc/modprobe.d/hvkit.conf: a conffile, every line commented out" \
		deb_conf_inactive
	deb_check "hvkit-pvtimer@.service: notify, /run/pvtimer-%i.sock, restarts, CAP_SYS_ADMIN only" \
		deb_unit
	if deb_check "mkinitramfs for $KVER with the package's hook" deb_initramfs; then
		deb_check "initramfs with an armed device: kram, vfio_preserve, the native driver" sh -c \
			"grep -qE '/updates/dkms/kram\.ko' $d/initramfs/with-claim.list &&
			 grep -qE '/updates/dkms/vfio_preserve\.ko' $d/initramfs/with-claim.list &&
			 grep -qE '/e1000e\.ko' $d/initramfs/with-claim.list"
		deb_check "initramfs with an armed device: the softdep line and kram's region=" \
			deb_image_conf
		deb_check "initramfs without an armed device: no hvkit module" sh -c \
			"grep -q 'modules.dep' $d/initramfs/without-claim.list &&
			 ! grep -qE '/(kram|vfio_preserve)\.ko' $d/initramfs/without-claim.list"
	fi
	# What hvkitctl would leave for purge to remove (comments only: no
	# softdep is ever active on this machine); one that was there before
	# is put back after the check.
	local claim=/etc/modprobe.d/hvkit-vfio-preserve.conf
	[ ! -e $claim ] || cp -p $claim "$d/claim.saved"
	echo "# Written by hvkitctl vfio (hvkit selftests: no device)" >$claim
	deb_check "apt purge hvkit-dkms hvkit-tools" deb_apt purge $DEB_PKGS
	deb_check "nothing of hvkit is left (dpkg, dkms, /usr/src, /lib/modules, /etc)" deb_nothing_left
	rm -f $claim
	[ ! -e "$d/claim.saved" ] || cp -p "$d/claim.saved" $claim
}
