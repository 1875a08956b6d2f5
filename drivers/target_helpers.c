// SPDX-License-Identifier: GPL-2.0
/*
 * C side of the target module's FFI layer: what Rust cannot reach through
 * bindgen (static inlines and macros), the two writable module parameters,
 * and sizes as the C compiler sees them.
 *
 * Nothing here makes a decision: each helper is one C construct.
 */
#include <linux/moduleparam.h>
#include <linux/ratelimit.h>
#include <linux/scatterlist.h>
#include <linux/workqueue.h>
#include "target_bindings.h"
#include "socket_helpers.c"

/*
 * The module parameters of the C transport, with its names, permissions and
 * ranges (0..INT_MAX). Rust `module!` parameters are read-only.
 */
static int nvmet_tcp_rs_param_set(const char *str, const struct kernel_param *kp)
{
	int ret, v;

	ret = kstrtoint(str, 10, &v);
	if (ret || v < 0)
		return -EINVAL;
	*((int *)kp->arg) = v;
	return 0;
}

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

int nvmet_tcp_rs_so_priority(void)
{
	return READ_ONCE(so_priority);
}

int nvmet_tcp_rs_idle_poll_usecs(void)
{
	return READ_ONCE(idle_poll_period_usecs);
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

struct page *nvmet_tcp_rs_sg_page(struct scatterlist *sg)
{
	return sg_page(sg);
}

/*
 * Copies @len bytes at @offset of @skb to bytes @pos.. of the buffer @sg, a
 * flat array of whole-page entries (sgl_alloc) long enough for them. Returns 0
 * or -EFAULT.
 */
int nvmet_tcp_rs_sg_copy_skb(struct scatterlist *sg, u32 pos,
			     const struct sk_buff *skb, u32 offset, u32 len)
{
	/* Filled before use: not zeroed on every call (INIT_STACK_ALL_ZERO). */
	struct bio_vec bv[16] __uninitialized;
	struct iov_iter iter;
	u32 off = offset_in_page(pos);

	sg += pos >> PAGE_SHIFT;
	while (len) {
		u32 n = 0;
		int i;

		for (i = 0; i < ARRAY_SIZE(bv) && n < len; i++, sg++) {
			u32 k = min_t(u32, PAGE_SIZE - off, len - n);

			bvec_set_page(&bv[i], sg_page(sg), k, off);
			n += k;
			off = 0;
		}
		iov_iter_bvec(&iter, ITER_DEST, bv, i, n);
		if (skb_copy_datagram_iter(skb, offset, &iter, n))
			return -EFAULT;
		offset += n;
		len -= n;
	}
	return 0;
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
