// SPDX-License-Identifier: GPL-2.0
/*
 * C side of the target module's FFI layer: what Rust cannot reach through
 * bindgen (static inlines, sizes as the C compiler sees them).
 */
#include "target_bindings.h"

/*
 * Layout of the structures the Rust side uses, as compiled by C; the Rust
 * side compares them with its own view at load time.
 */
size_t nvmet_tcp_rs_sizeof_fabrics_ops(void)
{
	return sizeof(struct nvmet_fabrics_ops);
}

size_t nvmet_tcp_rs_sizeof_port(void)
{
	return sizeof(struct nvmet_port);
}
