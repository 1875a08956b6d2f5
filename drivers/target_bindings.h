/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Input of bindgen for the target module: the private nvmet core header,
 * which is not part of `kernel::bindings`.
 */
#include "drivers/nvme/target/nvmet.h"

/* Helpers of target_helpers.c. */
size_t nvmet_tcp_rs_sizeof_fabrics_ops(void);
size_t nvmet_tcp_rs_sizeof_port(void);
