/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Input of bindgen for the host module: the private nvme-core and
 * nvme-fabrics headers, which are not part of `kernel::bindings`, the socket
 * functions the kernel crate does not bind (socket_helpers.h), and the
 * helpers of host_helpers.c.
 */
#include <linux/blk-mq.h>
#include "socket_helpers.h"
#include "drivers/nvme/host/nvme.h"
#include "drivers/nvme/host/fabrics.h"

/* Helpers of host_helpers.c: one static inline, macro or sizeof each. */
size_t nvme_tcp_rs_sizeof_transport_ops(void);
size_t nvme_tcp_rs_sizeof_ctrl_options(void);
size_t nvme_tcp_rs_sizeof_ctrl_ops(void);
size_t nvme_tcp_rs_sizeof_ctrl(void);
size_t nvme_tcp_rs_sizeof_tag_set(void);
unsigned long nvme_tcp_rs_get_virt_boundary(struct nvme_ctrl *ctrl,
					    bool is_admin);
void nvme_tcp_rs_init_reset_work(struct nvme_ctrl *ctrl,
				 void (*fn)(struct work_struct *work));
unsigned int nvme_tcp_rs_num_online_cpus(void);
bool nvme_tcp_rs_wq_unbound(void);
bool nvme_tcp_rs_wq_highpri(void);
int nvme_tcp_rs_so_priority(void);
unsigned int nvme_tcp_rs_tls_handshake_timeout(void);
int nvme_tcp_rs_ctrl_state(struct nvme_ctrl *ctrl);
void nvme_tcp_rs_ctrl_get(struct nvme_ctrl *ctrl);
void nvme_tcp_rs_ctrl_put(struct nvme_ctrl *ctrl);
const char *nvme_tcp_rs_rq_opcode_str(int qid, struct request *rq);
bool nvme_tcp_rs_check_ready(struct nvme_ctrl *ctrl, struct request *rq,
			     bool queue_live);
void nvme_tcp_rs_start_request(struct request *rq);
u16 nvme_tcp_rs_rq_cid(struct request *rq);
bool nvme_tcp_rs_try_complete_req(struct request *rq, __le16 status,
				  union nvme_result result);
int nvme_tcp_rs_netdev_ifindex(const struct net_device *dev);
void *nvme_tcp_rs_page_address(struct page *page);
void nvme_tcp_rs_auth_revoke_tls_key(struct nvme_ctrl *ctrl);
