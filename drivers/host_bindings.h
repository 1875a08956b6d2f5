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

/*
 * Where the last copy of received data into a request stopped: iter is at
 * byte pos of the request's data, within bio, which starts at byte start
 * (none while bio is NULL). As the C host's request iterator, data received
 * in order continues from it.
 */
struct nvme_tcp_rs_cursor {
	struct bio *bio;
	struct iov_iter iter;
	u32 start;
	u32 pos;
};

/*
 * A request's CapsuleCmd header section, framed where the core builds the
 * command: the common header, the command (the SQE, which nvme_req()->cmd
 * points to), then room for the header digest and the padding up to PDO
 * (at most 128 bytes in all).
 */
struct nvme_tcp_rs_capsule {
	u8 common[8];
	struct nvme_command cmd;
	u8 rest[56];
};

/*
 * The blk-mq request PDU of the host: the core's nvme_request first (as
 * nvme_req() requires), then the capsule of its command, then the cursor of
 * the placement of received data.
 *
 * The capsule is sent by copy (72 bytes without digest or data, which is
 * cheaper than a page reference the stack would take to send it zero-copy,
 * as the C host sends its command PDUs), so it may lie in the request.
 */
struct nvme_tcp_rs_pdu {
	struct nvme_request req;
	struct nvme_tcp_rs_capsule capsule;
	struct nvme_tcp_rs_cursor cursor;
};

/* Helpers of host_helpers.c. */
size_t nvme_tcp_rs_sizeof_transport_ops(void);
size_t nvme_tcp_rs_sizeof_ctrl_options(void);
size_t nvme_tcp_rs_sizeof_ctrl_ops(void);
size_t nvme_tcp_rs_sizeof_ctrl(void);
size_t nvme_tcp_rs_sizeof_tag_set(void);
size_t nvme_tcp_rs_sizeof_pdu(void);
int nvme_tcp_rs_init_request(struct blk_mq_tag_set *set, struct request *rq,
			     unsigned int hctx_idx, unsigned int numa_node);
unsigned long nvme_tcp_rs_get_virt_boundary(struct nvme_ctrl *ctrl,
					    bool is_admin);
void nvme_tcp_rs_init_reset_work(struct nvme_ctrl *ctrl,
				 void (*fn)(struct work_struct *work));
void nvme_tcp_rs_init_work(struct work_struct *work,
			   void (*fn)(struct work_struct *work));
void nvme_tcp_rs_init_delayed_work(struct delayed_work *dwork,
				   void (*fn)(struct work_struct *work));
void nvme_tcp_rs_reconnected(struct nvme_ctrl *ctrl);
struct nvme_ctrl *nvme_tcp_rs_reset_work_ctrl(struct work_struct *work);
unsigned int nvme_tcp_rs_num_online_cpus(void);
int nvme_tcp_rs_get_io_cpu(struct blk_mq_tag_set *set, unsigned int type,
			   unsigned int hctx_idx);
void nvme_tcp_rs_put_io_cpu(int cpu);
int nvme_tcp_rs_ifindex(const char *name);
bool nvme_tcp_rs_wq_unbound(void);
int nvme_tcp_rs_so_priority(void);
int nvme_tcp_rs_ctrl_state(struct nvme_ctrl *ctrl);
void nvme_tcp_rs_ctrl_get(struct nvme_ctrl *ctrl);
void nvme_tcp_rs_ctrl_put(struct nvme_ctrl *ctrl);
const char *nvme_tcp_rs_rq_opcode_str(int qid, struct request *rq);
bool nvme_tcp_rs_check_ready(struct nvme_ctrl *ctrl, struct request *rq,
			     bool queue_live);
void nvme_tcp_rs_start_request(struct request *rq);
/* A request as queue_rq sees it (nvme_tcp_rs_setup_rq). */
struct nvme_tcp_rs_rq_info {
	u32 len;
	u16 cid;
	bool write;
};
blk_status_t nvme_tcp_rs_setup_rq(struct request *rq,
				  struct nvme_tcp_rs_rq_info *info);
int nvme_tcp_rs_rq_map(struct request *rq, u32 offset, u32 len,
		       struct kvec *out, int max);
int nvme_tcp_rs_rq_copy_in(struct request *rq, u32 pos, const void *src,
			   u32 len);
int nvme_tcp_rs_rq_copy_skb(struct request *rq, u32 pos,
			    const struct sk_buff *skb, u32 offset, u32 len);
int nvme_tcp_rs_rq_map_pages(struct request *rq, u32 offset, u32 len,
			     struct bio_vec *out, int max);
struct request *nvme_tcp_rs_find_rq(struct blk_mq_tag_set *set,
				    unsigned int hctx_idx, u16 command_id);
void nvme_tcp_rs_complete_rq(struct request *rq, u16 status, u64 result);
u16 nvme_tcp_rs_rq_cid(struct request *rq);
void nvme_tcp_rs_complete_async_event(struct nvme_ctrl *ctrl, u16 status,
				      u64 result);
