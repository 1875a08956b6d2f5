// SPDX-License-Identifier: GPL-2.0
/*
 * C side of the host module's FFI layer: what Rust cannot reach through
 * bindgen (static inlines and macros, sizes as the C compiler sees them).
 *
 * Nothing here makes a decision: each helper is one C construct.
 */
#include <linux/blk-mq.h>
#include <linux/moduleparam.h>
#include <linux/netdevice.h>
#include "host_bindings.h"
#include "socket_helpers.c"

/*
 * Request data is reached through the kernel's direct map (bvec_virt), which
 * covers every page only without highmem.
 */
#ifdef CONFIG_HIGHMEM
#error "nvme_tcp (Rust) needs a kernel without CONFIG_HIGHMEM"
#endif

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

size_t nvme_tcp_rs_sizeof_pdu(void)
{
	return sizeof(struct nvme_tcp_rs_pdu);
}

/* The capsule is one run of bytes, the command at 8 as in a CapsuleCmd. */
static_assert(offsetof(struct nvme_tcp_rs_capsule, cmd) == 8);
static_assert(sizeof(struct nvme_tcp_rs_capsule) == 128);

/*
 * blk_mq_ops.init_request: the core's request points at the command in the
 * request's capsule.
 */
int nvme_tcp_rs_init_request(struct blk_mq_tag_set *set, struct request *rq,
			     unsigned int hctx_idx, unsigned int numa_node)
{
	struct nvme_tcp_rs_pdu *pdu = blk_mq_rq_to_pdu(rq);

	memset(&pdu->capsule, 0, sizeof(pdu->capsule));
	nvme_req(rq)->ctrl = set->driver_data;
	nvme_req(rq)->cmd = &pdu->capsule.cmd;
	pdu->cursor.bio = NULL;
	return 0;
}

unsigned long nvme_tcp_rs_get_virt_boundary(struct nvme_ctrl *ctrl,
					    bool is_admin)
{
	return nvmf_get_virt_boundary(ctrl, is_admin);
}

void nvme_tcp_rs_init_reset_work(struct nvme_ctrl *ctrl,
				 void (*fn)(struct work_struct *work))
{
	INIT_WORK(&ctrl->reset_work, fn);
}

void nvme_tcp_rs_init_work(struct work_struct *work,
			   void (*fn)(struct work_struct *work))
{
	INIT_WORK(work, fn);
}

void nvme_tcp_rs_init_delayed_work(struct delayed_work *dwork,
				   void (*fn)(struct work_struct *work))
{
	INIT_DELAYED_WORK(dwork, fn);
}

/* A reconnect succeeded: add the attempts to the total, count again from 0. */
void nvme_tcp_rs_reconnected(struct nvme_ctrl *ctrl)
{
	atomic_long_add(ctrl->nr_reconnects, &ctrl->acc_reconnects);
	ctrl->nr_reconnects = 0;
}

struct nvme_ctrl *nvme_tcp_rs_reset_work_ctrl(struct work_struct *work)
{
	return container_of(work, struct nvme_ctrl, reset_work);
}

unsigned int nvme_tcp_rs_num_online_cpus(void)
{
	return num_online_cpus();
}

/*
 * How many queues (of every controller) run their I/O work on each CPU, for
 * spreading the queues of several controllers, as the C host counts them.
 */
static atomic_t nvme_tcp_rs_cpu_queues[NR_CPUS];

/*
 * The least used online CPU that map `type` of `set` sends to hardware
 * context `hctx_idx`, counted as used; -1 if none.
 */
int nvme_tcp_rs_get_io_cpu(struct blk_mq_tag_set *set, unsigned int type,
			   unsigned int hctx_idx)
{
	const unsigned int *mq_map;
	int cpu, best = -1, least = INT_MAX;

	if (type >= set->nr_maps)
		return -1;
	mq_map = set->map[type].mq_map;
	if (!mq_map)
		return -1;
	for_each_online_cpu(cpu) {
		int n = atomic_read(&nvme_tcp_rs_cpu_queues[cpu]);

		if (mq_map[cpu] == hctx_idx && n < least) {
			best = cpu;
			least = n;
		}
	}
	if (best >= 0)
		atomic_inc(&nvme_tcp_rs_cpu_queues[best]);
	return best;
}

void nvme_tcp_rs_put_io_cpu(int cpu)
{
	if (cpu >= 0 && cpu < NR_CPUS)
		atomic_dec(&nvme_tcp_rs_cpu_queues[cpu]);
}

/* The index of network interface `name` in the initial namespace, or -ENODEV. */
int nvme_tcp_rs_ifindex(const char *name)
{
	struct net_device *dev = dev_get_by_name(&init_net, name);
	int ifindex;

	if (!dev)
		return -ENODEV;
	ifindex = dev->ifindex;
	dev_put(dev);
	return ifindex;
}

static bool wq_unbound;
module_param(wq_unbound, bool, 0644);
MODULE_PARM_DESC(wq_unbound, "Use unbound workqueue for nvme-tcp IO context (default false)");

static int so_priority;
module_param(so_priority, int, 0644);
MODULE_PARM_DESC(so_priority, "nvme tcp socket optimize priority");

bool nvme_tcp_rs_wq_unbound(void)
{
	return READ_ONCE(wq_unbound);
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
	struct nvme_tcp_rs_pdu *pdu = blk_mq_rq_to_pdu(rq);

	pdu->cursor.bio = NULL;
	nvme_start_request(rq);
}

/*
 * nvme_setup_cmd for @rq (of a namespace, or none on the admin queues), then
 * what queue_rq needs of it in *@info: one call on every command.
 */
blk_status_t nvme_tcp_rs_setup_rq(struct request *rq,
				  struct nvme_tcp_rs_rq_info *info)
{
	blk_status_t ret = nvme_setup_cmd(rq->q->queuedata, rq);

	if (ret)
		return ret;
	info->len = blk_rq_nr_phys_segments(rq) ? blk_rq_payload_bytes(rq) : 0;
	info->cid = nvme_cid(rq);
	info->write = rq_data_dir(rq) == WRITE;
	return BLK_STS_OK;
}

/*
 * Steps *pos over segment bv and clips it to [offset, end): 1 with the part
 * as *from (offset into bv) and *len, 0 if the segment lies before offset,
 * -1 if it lies beyond end or out is full (stop).
 */
static int nvme_tcp_rs_clip(struct bio_vec *bv, u32 *pos, u32 offset, u32 end,
			    int max, int n, u32 *from, u32 *len)
{
	u32 start = *pos, stop = *pos + bv->bv_len;

	*pos = stop;
	if (stop <= offset)
		return 0;
	if (start >= end || n == max)
		return -1;
	*from = max(start, offset) - start;
	*len = min(stop, end) - start - *from;
	return 1;
}

/* Adds the part of [pos, pos + bv->bv_len) inside [offset, end) to out. */
static bool nvme_tcp_rs_map_bvec(struct bio_vec *bv, u32 *pos,
				 u32 offset, u32 end, struct kvec *out,
				 int max, int *n)
{
	u32 from, len;
	int r = nvme_tcp_rs_clip(bv, pos, offset, end, max, *n, &from, &len);

	if (r <= 0)
		return r == 0;
	out[*n].iov_base = bvec_virt(bv) + from;
	out[*n].iov_len = len;
	(*n)++;
	return true;
}

/*
 * The pieces of bytes [offset, offset + len) of the request's data (its
 * special payload or its bios' segments), at most max of them.
 */
int nvme_tcp_rs_rq_map(struct request *rq, u32 offset, u32 len,
		       struct kvec *out, int max)
{
	struct req_iterator iter;
	struct bio_vec bv;
	u32 pos = 0, end = offset + len;
	int n = 0;

	if (rq->rq_flags & RQF_SPECIAL_PAYLOAD) {
		nvme_tcp_rs_map_bvec(&rq->special_vec, &pos, offset, end, out,
				     max, &n);
		return n;
	}
	rq_for_each_segment(bv, rq, iter) {
		if (!nvme_tcp_rs_map_bvec(&bv, &pos, offset, end, out, max, &n))
			return n;
	}
	return n;
}

/*
 * Sets @it over the data of @bio, as the C host's nvme_tcp_init_iter. The
 * iterator's segment count only bounds its walk over the table, which its
 * byte count ends: a bio that owns its table (not cloned) has bi_vcnt entries
 * in it, so the count need not be walked for (as C does for every bio).
 */
static void nvme_tcp_rs_bio_iter(struct iov_iter *it, struct bio *bio)
{
	struct bvec_iter bi;
	struct bio_vec bv;
	unsigned int nr = 0;

	if (!bio_flagged(bio, BIO_CLONED) && bio->bi_vcnt > bio->bi_iter.bi_idx)
		nr = bio->bi_vcnt - bio->bi_iter.bi_idx;
	else
		bio_for_each_bvec(bv, bio, bi)
			nr++;
	iov_iter_bvec(it, ITER_DEST, __bvec_iter_bvec(bio->bi_io_vec, bio->bi_iter),
		      nr, bio->bi_iter.bi_size);
	it->iov_offset = bio->bi_iter.bi_offset;
}

/*
 * Moves the request's cursor to byte @pos of its data and returns its
 * iterator, over at least one byte; NULL if @pos is beyond the data. In-order
 * data continues where the last copy stopped; otherwise the bios are walked
 * from the cursor's (if not beyond @pos) or from the first.
 */
static struct iov_iter *nvme_tcp_rs_rq_seek(struct request *rq, u32 pos)
{
	struct nvme_tcp_rs_cursor *cur =
		&((struct nvme_tcp_rs_pdu *)blk_mq_rq_to_pdu(rq))->cursor;
	struct bio *bio = rq->bio;
	u32 start = 0;

	if (rq->rq_flags & RQF_SPECIAL_PAYLOAD)
		return NULL;
	if (cur->bio && cur->pos == pos && iov_iter_count(&cur->iter))
		return &cur->iter;
	if (cur->bio && cur->start <= pos) {
		bio = cur->bio;
		start = cur->start;
	}
	for (; bio; bio = bio->bi_next) {
		if (pos - start < bio->bi_iter.bi_size)
			break;
		start += bio->bi_iter.bi_size;
	}
	cur->bio = bio;
	if (!bio)
		return NULL;
	nvme_tcp_rs_bio_iter(&cur->iter, bio);
	if (pos != start)
		iov_iter_advance(&cur->iter, pos - start);
	cur->start = start;
	cur->pos = pos;
	return &cur->iter;
}

/*
 * Copies @len bytes to bytes @pos.. of the data of @rq: from @skb at @offset
 * if @skb, else from @src. Returns 0; -ERANGE if the data is shorter, or
 * -EFAULT.
 */
static int nvme_tcp_rs_rq_copy(struct request *rq, u32 pos, u32 len,
			       const struct sk_buff *skb, u32 offset,
			       const void *src)
{
	struct nvme_tcp_rs_cursor *cur =
		&((struct nvme_tcp_rs_pdu *)blk_mq_rq_to_pdu(rq))->cursor;

	while (len) {
		struct iov_iter *it = nvme_tcp_rs_rq_seek(rq, pos);
		bool ok;
		u32 n;

		if (!it)
			return -ERANGE;
		n = min_t(size_t, len, iov_iter_count(it));
		if (skb)
			ok = !skb_copy_datagram_iter(skb, offset, it, n);
		else
			ok = copy_to_iter(src, n, it) == n;
		if (!ok) {
			cur->bio = NULL;
			return -EFAULT;
		}
		cur->pos += n;
		pos += n;
		len -= n;
		if (skb)
			offset += n;
		else
			src += n;
	}
	return 0;
}

/*
 * Copies @len bytes at @offset of @skb to bytes @pos.. of the data of @rq,
 * straight from the socket buffer into the bio pages. Returns 0; -ERANGE if
 * the data is shorter, or -EFAULT.
 */
int nvme_tcp_rs_rq_copy_skb(struct request *rq, u32 pos,
			    const struct sk_buff *skb, u32 offset, u32 len)
{
	return nvme_tcp_rs_rq_copy(rq, pos, len, skb, offset, NULL);
}

/* As nvme_tcp_rs_rq_copy_skb, from the @len bytes at @src. */
int nvme_tcp_rs_rq_copy_in(struct request *rq, u32 pos, const void *src,
			   u32 len)
{
	return nvme_tcp_rs_rq_copy(rq, pos, len, NULL, 0, src);
}

/*
 * As nvme_tcp_rs_map_bvec, but the part as a page range; clears *ok if it
 * cannot be spliced.
 */
static bool nvme_tcp_rs_page_bvec(struct bio_vec *bv, u32 *pos, u32 offset,
				  u32 end, struct bio_vec *out, int max, int *n,
				  bool *ok)
{
	u32 from, len;
	int r = nvme_tcp_rs_clip(bv, pos, offset, end, max, *n, &from, &len);

	if (r <= 0)
		return r == 0;
	bvec_set_page(&out[*n], bv->bv_page, len, bv->bv_offset + from);
	if (!sendpages_ok(bv->bv_page, len, bv->bv_offset + from))
		*ok = false;
	(*n)++;
	return true;
}

/*
 * The pieces of bytes [offset, offset + len) of the request's bios as page
 * ranges, at most max of them, for sending them zero-copy; -EOPNOTSUPP for
 * a special payload or a page the network stack may not take a reference on
 * (sendpage_ok).
 */
int nvme_tcp_rs_rq_map_pages(struct request *rq, u32 offset, u32 len,
			     struct bio_vec *out, int max)
{
	struct req_iterator iter;
	struct bio_vec bv;
	u32 pos = 0, end = offset + len;
	int n = 0;
	bool ok = true;

	if (rq->rq_flags & RQF_SPECIAL_PAYLOAD)
		return -EOPNOTSUPP;
	rq_for_each_segment(bv, rq, iter) {
		if (!nvme_tcp_rs_page_bvec(&bv, &pos, offset, end, out, max,
					   &n, &ok))
			break;
	}
	return ok ? n : -EOPNOTSUPP;
}

struct request *nvme_tcp_rs_find_rq(struct blk_mq_tag_set *set,
				    unsigned int hctx_idx, u16 command_id)
{
	if (hctx_idx >= set->nr_hw_queues || !set->tags)
		return NULL;
	return nvme_find_rq(set->tags[hctx_idx], command_id);
}

/* status is the CQE's status field (phase bit included), in CPU order. */
void nvme_tcp_rs_complete_rq(struct request *rq, u16 status, u64 result)
{
	union nvme_result res = { .u64 = cpu_to_le64(result) };

	if (!nvme_try_complete_req(rq, cpu_to_le16(status), res))
		nvme_complete_rq(rq);
}

u16 nvme_tcp_rs_rq_cid(struct request *rq)
{
	return nvme_cid(rq);
}

/* status is the CQE's status field (phase bit included), in CPU order. */
void nvme_tcp_rs_complete_async_event(struct nvme_ctrl *ctrl, u16 status,
				      u64 result)
{
	union nvme_result res = { .u64 = cpu_to_le64(result) };

	nvme_complete_async_event(ctrl, cpu_to_le16(status), &res);
}
