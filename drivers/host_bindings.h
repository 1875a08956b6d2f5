/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Input of bindgen for the host module: the private nvme-core and
 * nvme-fabrics headers, which are not part of `kernel::bindings`.
 */
#include "drivers/nvme/host/nvme.h"
#include "drivers/nvme/host/fabrics.h"
