# SPDX-License-Identifier: GPL-2.0
#
# Out-of-tree build of nvme_tcp.ko and nvmet_tcp.ko against a Rust-enabled
# kernel tree:
#
#   make [KDIR=/path/to/kernel/build]    build both modules
#   make modules_install                 install under updates/ (they win over
#                                        the in-tree C modules in modprobe)
#   make CLIPPY=1                        build with clippy's lints
#   make clean
#
# KDIR defaults to the release kernel that scripts/setup builds if that
# exists, else to the running kernel's build tree. Pass the kernel's own make
# variables (LLVM=..., RUSTC=..., BINDGEN=...) as for the kernel; a tree built
# by scripts/setup names its toolchain in toolchain.mk, which is used here.

CACHE ?= $(or $(NVME_TCP_RS_CACHE),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/nvme-tcp-rs)
ifeq ($(KDIR),)
  ifneq ($(wildcard $(CACHE)/kbuild-release/Makefile),)
    KDIR := $(CACHE)/kbuild-release
  else
    KDIR := /lib/modules/$(shell uname -r)/build
  endif
endif

-include $(KDIR)/toolchain.mk

all: modules

modules modules_install clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) $(TOOLCHAIN_VARS) $@

.PHONY: all modules modules_install clean
