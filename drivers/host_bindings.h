/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Input of bindgen for the host module: the private nvme-core and
 * nvme-fabrics headers, which are not part of `kernel::bindings`.
 */
#include "drivers/nvme/host/nvme.h"
#include "drivers/nvme/host/fabrics.h"

/* Helpers of host_helpers.c. */
size_t nvme_tcp_rs_sizeof_transport_ops(void);
size_t nvme_tcp_rs_sizeof_ctrl_options(void);
