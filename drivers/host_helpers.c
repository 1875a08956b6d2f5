// SPDX-License-Identifier: GPL-2.0
/*
 * C side of the host module's FFI layer: the static inlines and macros of the
 * private nvme headers that Rust cannot call through bindgen, the two writable
 * module parameters, and sizes as the C compiler sees them. Each helper is one
 * such construct; the decisions around them are made in Rust (drivers/).
 */
#include <linux/blk-mq.h>
#include <linux/moduleparam.h>
#include "host_bindings.h"
#include "socket_helpers.c"

/*
 * Layout of the structures the Rust side fills in, as compiled by C; the Rust
 * side compares them with its own view at load time, so a bindgen run with
 * different flags cannot go unnoticed.
 */
size_t nvme_tcp_rs_sizeof_transport_ops(void)
{
	return sizeof(struct nvmf_transport_ops);
}

size_t nvme_tcp_rs_sizeof_ctrl_options(void)
{
	return sizeof(struct nvmf_ctrl_options);
}

size_t nvme_tcp_rs_sizeof_ctrl_ops(void)
{
	return sizeof(struct nvme_ctrl_ops);
}

size_t nvme_tcp_rs_sizeof_ctrl(void)
{
	return sizeof(struct nvme_ctrl);
}

size_t nvme_tcp_rs_sizeof_tag_set(void)
{
	return sizeof(struct blk_mq_tag_set);
}

unsigned long nvme_tcp_rs_get_virt_boundary(struct nvme_ctrl *ctrl,
					    bool is_admin)
{
	return nvmf_get_virt_boundary(ctrl, is_admin);
}

/* The core queues ctrl->reset_work; the transport gives it its function. */
void nvme_tcp_rs_init_reset_work(struct nvme_ctrl *ctrl,
				 void (*fn)(struct work_struct *work))
{
	INIT_WORK(&ctrl->reset_work, fn);
}

unsigned int nvme_tcp_rs_num_online_cpus(void)
{
	return num_online_cpus();
}

/* The module parameters of the C host, writable as there (Rust's are not). */
static bool wq_unbound;
module_param(wq_unbound, bool, 0644);
MODULE_PARM_DESC(wq_unbound, "Use unbound workqueue for nvme-tcp IO context (default false)");

static int so_priority;
module_param(so_priority, int, 0644);
MODULE_PARM_DESC(so_priority, "nvme tcp socket optimize priority");

/* Ours, read at load: see drivers/io_wq.rs (IoWorkqueues). */
static bool wq_highpri = true;
module_param(wq_highpri, bool, 0444);
MODULE_PARM_DESC(wq_highpri,
		 "Run all I/O work at high priority, as the C driver; N: busy queues batch at normal priority (default Y)");

/*
 * The C host's tls_handshake_timeout, with its name, type, default and
 * permissions; writes are checked by nvme_tcp_rs_tls_timeout_set (Rust,
 * drivers/host_params.rs), with the C host's range.
 */
int nvme_tcp_rs_tls_timeout_set(const char *val, const struct kernel_param *kp);

static const struct kernel_param_ops nvme_tcp_rs_tls_timeout_ops = {
	.set = nvme_tcp_rs_tls_timeout_set,
	.get = param_get_uint,
};

static unsigned int tls_handshake_timeout = 10;
module_param_cb(tls_handshake_timeout, &nvme_tcp_rs_tls_timeout_ops,
		&tls_handshake_timeout, 0644);
__MODULE_PARM_TYPE(tls_handshake_timeout, "uint");
MODULE_PARM_DESC(tls_handshake_timeout,
		 "nvme TLS handshake timeout in seconds (default 10)");

unsigned int nvme_tcp_rs_tls_handshake_timeout(void)
{
	return READ_ONCE(tls_handshake_timeout);
}

bool nvme_tcp_rs_wq_unbound(void)
{
	return READ_ONCE(wq_unbound);
}

bool nvme_tcp_rs_wq_highpri(void)
{
	return READ_ONCE(wq_highpri);
}

int nvme_tcp_rs_so_priority(void)
{
	return READ_ONCE(so_priority);
}

int nvme_tcp_rs_ctrl_state(struct nvme_ctrl *ctrl)
{
	return nvme_ctrl_state(ctrl);
}

void nvme_tcp_rs_ctrl_get(struct nvme_ctrl *ctrl)
{
	nvme_get_ctrl(ctrl);
}

void nvme_tcp_rs_ctrl_put(struct nvme_ctrl *ctrl)
{
	nvme_put_ctrl(ctrl);
}

/* The name of the request's command for log lines, as the core spells it. */
const char *nvme_tcp_rs_rq_opcode_str(int qid, struct request *rq)
{
	return nvme_fabrics_opcode_str(qid, nvme_req(rq)->cmd);
}

bool nvme_tcp_rs_check_ready(struct nvme_ctrl *ctrl, struct request *rq,
			     bool queue_live)
{
	return nvme_check_ready(ctrl, rq, queue_live);
}

void nvme_tcp_rs_start_request(struct request *rq)
{
	nvme_start_request(rq);
}

u16 nvme_tcp_rs_rq_cid(struct request *rq)
{
	return nvme_cid(rq);
}

bool nvme_tcp_rs_try_complete_req(struct request *rq, __le16 status,
				  union nvme_result result)
{
	return nvme_try_complete_req(rq, status, result);
}

int nvme_tcp_rs_netdev_ifindex(const struct net_device *dev)
{
	return dev->ifindex;
}

void *nvme_tcp_rs_page_address(struct page *page)
{
	return page_address(page);
}

/* A static inline without CONFIG_NVME_HOST_AUTH. */
void nvme_tcp_rs_auth_revoke_tls_key(struct nvme_ctrl *ctrl)
{
	nvme_auth_revoke_tls_key(ctrl);
}
