// SPDX-License-Identifier: GPL-2.0
/*
 * C side of the host module's FFI layer: what Rust cannot reach through
 * bindgen (static inlines, sizes as the C compiler sees them).
 */
#include "host_bindings.h"

/*
 * Layout of the structures the Rust side fills in, as compiled by C; the
 * Rust side compares them with its own view at load time, so a bindgen run
 * with different flags cannot go unnoticed.
 */
size_t nvme_tcp_rs_sizeof_transport_ops(void)
{
	return sizeof(struct nvmf_transport_ops);
}

size_t nvme_tcp_rs_sizeof_ctrl_options(void)
{
	return sizeof(struct nvmf_ctrl_options);
}
