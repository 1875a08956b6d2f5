# SPDX-License-Identifier: GPL-2.0
#
# Out-of-tree build of nvme_tcp.ko and nvmet_tcp.ko against a Rust-enabled
# kernel build tree:
#
#   make [KDIR=/path/to/kernel/build]    build both modules
#   make modules_install                 install under updates/ (they win over
#                                        the in-tree C modules in modprobe)
#   make CLIPPY=1                        build with clippy's lints
#   make dkms_install                    add, build and install them with DKMS
#                                        for the running kernel
#   make clean
#
# KDIR defaults to the release kernel that scripts/setup builds if that
# exists, else to the running kernel's build tree. Pass the kernel's own make
# variables (LLVM=..., RUSTC=..., BINDGEN=...) as for the kernel; a tree built
# by scripts/setup names its toolchain in toolchain.mk, which is used here.
#
# A distribution's headers package (Debian's linux-headers-*) lacks the kernel
# crate's metadata that a Rust module needs: use DKMS (dkms_install, or the
# Debian package), which makes it from the same version's linux-source.

CACHE ?= $(or $(NVME_TCP_RS_CACHE),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/nvme-tcp-rs)
ifeq ($(KDIR),)
  ifneq ($(wildcard $(CACHE)/kbuild-release/Makefile),)
    KDIR := $(CACHE)/kbuild-release
  else
    KDIR := /lib/modules/$(shell uname -r)/build
  endif
endif
VERSION := $(shell sed -n '1s/.*(\([^)-]*\).*/\1/p' $(CURDIR)/debian/changelog)

-include $(KDIR)/toolchain.mk

all: modules

# What a build needs of the kernel, checked first: a clear message instead of
# a pile of compiler errors.
check:
	@[ -f "$(KDIR)/.config" ] || { echo "error: no kernel build tree at $(KDIR): install the kernel's headers or pass KDIR=" >&2; exit 1; }
	@grep -q '^CONFIG_RUST=y' "$(KDIR)/.config" || { echo "error: the kernel at $(KDIR) is built without CONFIG_RUST: Rust modules cannot be loaded into it" >&2; exit 1; }
	@[ -f "$(KDIR)/rust/libkernel.rmeta" ] || { echo "error: $(KDIR) lacks the kernel crate's metadata (rust/libkernel.rmeta), as distribution headers packages do: use 'make dkms_install' or the Debian package" >&2; exit 1; }
	@want=$$(sed -n 's/^CONFIG_RUSTC_VERSION_TEXT="\(.*\)"/\1/p' "$(KDIR)/.config"); \
	 have=$$($(or $(RUSTC),rustc) --version 2>/dev/null); \
	 [ "$$want" = "$$have" ] || { echo "error: the kernel was built by '$$want', but the rustc here is '$$have': pass RUSTC= (Rust modules must be built by the kernel's own rustc)" >&2; exit 1; }

modules modules_install: check
	$(MAKE) -C $(KDIR) M=$(CURDIR) $(TOOLCHAIN_VARS) $@

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) $(TOOLCHAIN_VARS) $@

dkms_install:
	@command -v dkms >/dev/null || { echo "error: dkms is not installed" >&2; exit 1; }
	rm -rf /usr/src/nvme-tcp-rs-$(VERSION)
	mkdir -p /usr/src/nvme-tcp-rs-$(VERSION)/common
	cp -a Kbuild Kconfig Makefile dkms drivers host target /usr/src/nvme-tcp-rs-$(VERSION)/
	cp -a common/src /usr/src/nvme-tcp-rs-$(VERSION)/common/
	sed 's/#MODULE_VERSION#/$(VERSION)/' dkms.conf >/usr/src/nvme-tcp-rs-$(VERSION)/dkms.conf
	dkms install nvme-tcp-rs/$(VERSION)

.PHONY: all check modules modules_install clean dkms_install
