// SPDX-License-Identifier: GPL-2.0
/*
 * C side of the target module's FFI layer: the static inlines and macros Rust
 * cannot call through bindgen, the declarations of the writable module
 * parameters (whose values Rust checks: nvmet_tcp_rs_param_set), and sizes
 * as the C compiler sees them. Each helper is one such construct.
 */
#include <linux/moduleparam.h>
#include <linux/ratelimit.h>
#include <linux/scatterlist.h>
#include "target_bindings.h"
#include "socket_helpers.c"

/*
 * The module parameters of the C transport, with its names, permissions and
 * ranges; Rust module parameters are read-only. Writes go through
 * nvmet_tcp_rs_param_set (Rust).
 */
static const struct kernel_param_ops nvmet_tcp_rs_param_ops = {
	.set = nvmet_tcp_rs_param_set,
	.get = param_get_int,
};

static int so_priority;
device_param_cb(so_priority, &nvmet_tcp_rs_param_ops, &so_priority, 0644);
MODULE_PARM_DESC(so_priority, "nvmet tcp socket optimize priority: Default 0");

static int idle_poll_period_usecs;
device_param_cb(idle_poll_period_usecs, &nvmet_tcp_rs_param_ops,
		&idle_poll_period_usecs, 0644);
MODULE_PARM_DESC(idle_poll_period_usecs,
		"nvmet tcp io_work poll till idle time period in usecs: Default 0");

/*
 * Ours, named and set as the C transport's tls_handshake_timeout (C has no
 * such limit without TLS and keeps such a connection until the host closes
 * it): how long a connection may take to complete its ICReq and its Fabrics
 * Connect before the target closes it.
 */
static int connect_timeout = 30;
device_param_cb(connect_timeout, &nvmet_tcp_rs_param_ops,
		&connect_timeout, 0644);
MODULE_PARM_DESC(connect_timeout,
		"nvmet tcp ICReq and Fabrics Connect timeout in seconds, 0 for none: Default 30");

/* As the C transport's: the TLS handshake's time limit, in seconds. */
static int tls_handshake_timeout = 10;
device_param_cb(tls_handshake_timeout, &nvmet_tcp_rs_param_ops,
		&tls_handshake_timeout, 0644);
MODULE_PARM_DESC(tls_handshake_timeout,
		 "nvme TLS handshake timeout in seconds (default 10)");

/* Ours, read at load: see drivers/io_wq.rs (IoWorkqueues). */
static bool wq_highpri = true;
module_param(wq_highpri, bool, 0444);
MODULE_PARM_DESC(wq_highpri,
		 "Run all io_work at high priority, as the C transport; N: busy queues batch at normal priority (default Y)");

bool nvmet_tcp_rs_wq_highpri(void)
{
	return READ_ONCE(wq_highpri);
}

int nvmet_tcp_rs_so_priority(void)
{
	return READ_ONCE(so_priority);
}

int nvmet_tcp_rs_idle_poll_usecs(void)
{
	return READ_ONCE(idle_poll_period_usecs);
}

int nvmet_tcp_rs_connect_timeout(void)
{
	return READ_ONCE(connect_timeout);
}

int nvmet_tcp_rs_tls_handshake_timeout(void)
{
	return READ_ONCE(tls_handshake_timeout);
}

/* One limiter for the module's per-queue error lines, as pr_err_ratelimited. */
static DEFINE_RATELIMIT_STATE(nvmet_tcp_rs_rs, DEFAULT_RATELIMIT_INTERVAL,
			      DEFAULT_RATELIMIT_BURST);

bool nvmet_tcp_rs_ratelimit(void)
{
	return __ratelimit(&nvmet_tcp_rs_rs);
}

void *nvmet_tcp_rs_sg_virt(struct scatterlist *sg)
{
	return sg_virt(sg);
}

struct page *nvmet_tcp_rs_virt_to_page(const void *addr)
{
	return virt_to_page(addr);
}

struct page *nvmet_tcp_rs_sg_page(struct scatterlist *sg)
{
	return sg_page(sg);
}

/*
 * sq->tls_key exists only with CONFIG_NVME_TARGET_TCP_TLS (without it no port
 * can ask for TLS): stores key there and returns what was there, or returns
 * key itself, not stored.
 */
struct key *nvmet_tcp_rs_sq_xchg_tls_key(struct nvmet_sq *sq, struct key *key)
{
#ifdef CONFIG_NVME_TARGET_TCP_TLS
	return xchg(&sq->tls_key, key);
#else
	return key;
#endif
}

void nvmet_tcp_rs_sq_put_tls_key(struct nvmet_sq *sq)
{
	nvmet_sq_put_tls_key(sq);
}

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

size_t nvmet_tcp_rs_sizeof_req(void)
{
	return sizeof(struct nvmet_req);
}

size_t nvmet_tcp_rs_sizeof_sq(void)
{
	return sizeof(struct nvmet_sq);
}
