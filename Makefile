# SPDX-License-Identifier: GPL-2.0
# hvkit: thin wrapper around Kbuild (see Kbuild) and the test runner.
#
#   make [modules]           build every module for KERNELRELEASE
#   make install             modules_install into updates/hvkit, hvkitctl and
#                            the initramfs-tools hook
#   make deb                 the Debian packages hvkit-dkms and hvkit-tools
#                            (dpkg-buildpackage, dh-dkms, lintian) in this dir
#   make dkms-install        dkms add/build/install for KERNELRELEASE (development;
#                            hosts install the packages: README)
#   make check               the whole test suite (README)
#   make check-quick         W=1 build + stock-kernel VM suite
#   make bench               every benchmark, side-by-side tables
#   make demo                boot a VM with every module and show them
#   make sparse | style      static checks
#
# DKMS builds for other kernels by passing KERNELRELEASE= and KDIR=; this
# file never assumes it runs on the kernel it builds for.

KERNELRELEASE ?= $(shell uname -r)
KDIR ?= /lib/modules/$(KERNELRELEASE)/build
VERSION := $(shell sed -n 's/^PACKAGE_VERSION="\(.*\)"$$/\1/p' dkms.conf)
CHECKPATCH ?= $(KDIR)/scripts/checkpatch.pl
COMPAT_H := compat/generated/hvkit_config.h
DKMS_SRC := /usr/src/hvkit-$(VERSION)

# Our C sources and headers, for checkpatch.
SOURCES = $(shell find kram kvm_hybrid guest_pvtimer guest_idlepoll \
	vfio_preserve include compat tools selftests/tests selftests/kunit bench \
	-name '*.[ch]' ! -path 'compat/generated/*' ! -name '*.mod.c' 2>/dev/null)

# Shell scripts, for shellcheck.
SCRIPTS = $(shell find selftests compat .ci -name '*.sh' ! -path 'selftests/out/*') .ci/run \
	tools/initramfs-tools/hooks/hvkit tools/mkdeb.sh tools/hvkitctl/mkman.sh \
	tools/hvkitctl/hvkitctl.bash-completion

all: modules tools

# The probes are re-run whenever the kernel tree they ran against changes.
$(COMPAT_H): compat/conftest.sh $(wildcard compat/probes/*) FORCE
	@if [ ! -f $@ ] || ! head -n1 $@ | grep -qF "for $(KDIR):" || \
	    [ -n "$$(find compat/probes compat/conftest.sh -newer $@)" ]; then \
		echo "  PROBE   $(KDIR)"; compat/conftest.sh $(KDIR) $@; fi

modules: $(COMPAT_H)
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

sparse: $(COMPAT_H)
	$(MAKE) -C $(KDIR) M=$(CURDIR) C=2 modules

style:
	@test -x $(CHECKPATCH) || { echo "no checkpatch.pl at $(CHECKPATCH) (set CHECKPATCH=)"; exit 1; }
	$(CHECKPATCH) --strict --no-tree --terse --show-types -f $(SOURCES)
	shellcheck -S warning -x $(SCRIPTS)

tools:
	$(MAKE) -C tools/hvkitctl

install: modules tools
	$(MAKE) -C $(KDIR) M=$(CURDIR) INSTALL_MOD_DIR=updates/hvkit modules_install
	depmod -a $(KERNELRELEASE)
	$(MAKE) -C tools/hvkitctl install
	# The initramfs-tools hook (vfio_preserve's early claim after a kexec).
	install -D -m 755 tools/initramfs-tools/hooks/hvkit \
		$(DESTDIR)/usr/share/initramfs-tools/hooks/hvkit

# Copy the clean source to /usr/src/hvkit-VERSION and let DKMS build it.
dkms-install:
	@if dpkg-query -W -f='$${Status}' hvkit-dkms 2>/dev/null | grep -q 'ok installed'; then \
		echo "hvkit-dkms is installed: it owns /usr/src/hvkit-*; apt purge it first"; exit 1; fi
	rm -rf $(DKMS_SRC)
	mkdir -p $(DKMS_SRC)
	rsync -a --exclude .git --exclude selftests/out --exclude compat/generated \
		--exclude '*.o' --exclude '*.ko' --exclude '*.mod' --exclude '*.mod.c' \
		--exclude '.*.cmd' --exclude Module.symvers --exclude modules.order \
		./ $(DKMS_SRC)/
	if dkms status hvkit/$(VERSION) | grep -q .; then dkms remove hvkit/$(VERSION) --all; fi
	# An instance DKMS shows as only "added" (its dkms.conf gained a module
	# since it was built) survives "remove --all": drop what is left of it.
	if dkms status hvkit/$(VERSION) | grep -q .; then rm -rf /var/lib/dkms/hvkit/$(VERSION); fi
	dkms add hvkit/$(VERSION)
	dkms build hvkit/$(VERSION) -k $(KERNELRELEASE)
	dkms install --force hvkit/$(VERSION) -k $(KERNELRELEASE)

deb:
	tools/mkdeb.sh .

check:
	selftests/run.sh check

check-quick:
	selftests/run.sh quick

bench:
	selftests/run.sh bench

demo:
	selftests/run.sh demo

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean || true
	$(MAKE) -C tools/hvkitctl clean
	rm -rf compat/generated selftests/out
	rm -f hvkit-dkms_*.deb hvkit-tools_*.deb

.PHONY: all modules sparse style tools install deb dkms-install check check-quick bench demo clean FORCE
