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
#include <net/inet_sock.h>
#include <net/sock.h>
#include <net/tcp_states.h>
#include "target_bindings.h"

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

struct workqueue_struct *nvmet_tcp_rs_alloc_wq(void)
{
	return alloc_workqueue("nvmet_tcp_wq",
			       WQ_MEM_RECLAIM | WQ_HIGHPRI | WQ_PERCPU, 0);
}

/* Socket callbacks: installed and restored under sk_callback_lock. */
int nvmet_tcp_rs_sk_install(struct sock *sk, void *user,
			    const struct nvmet_tcp_rs_hooks *ours,
			    struct nvmet_tcp_rs_hooks *saved, bool established)
{
	int ret = 0;

	write_lock_bh(&sk->sk_callback_lock);
	if (established && sk->sk_state != TCP_ESTABLISHED) {
		ret = -ENOTCONN;
		goto out;
	}
	saved->data_ready = sk->sk_data_ready;
	saved->write_space = sk->sk_write_space;
	saved->state_change = sk->sk_state_change;
	sk->sk_user_data = user;
	if (ours->data_ready)
		sk->sk_data_ready = ours->data_ready;
	if (ours->write_space)
		sk->sk_write_space = ours->write_space;
	if (ours->state_change)
		sk->sk_state_change = ours->state_change;
out:
	write_unlock_bh(&sk->sk_callback_lock);
	return ret;
}

void *nvmet_tcp_rs_sk_restore(struct sock *sk,
			      const struct nvmet_tcp_rs_hooks *saved)
{
	void *user;

	write_lock_bh(&sk->sk_callback_lock);
	user = sk->sk_user_data;
	sk->sk_user_data = NULL;
	sk->sk_data_ready = saved->data_ready;
	sk->sk_write_space = saved->write_space;
	sk->sk_state_change = saved->state_change;
	write_unlock_bh(&sk->sk_callback_lock);
	return user;
}

void *nvmet_tcp_rs_sk_read_lock(struct sock *sk)
{
	read_lock_bh(&sk->sk_callback_lock);
	return sk->sk_user_data;
}

void nvmet_tcp_rs_sk_read_unlock(struct sock *sk)
{
	read_unlock_bh(&sk->sk_callback_lock);
}

bool nvmet_tcp_rs_sk_listening(struct sock *sk)
{
	return sk->sk_state == TCP_LISTEN;
}

/* The states in which the C transport releases a queue. */
bool nvmet_tcp_rs_sk_closing(struct sock *sk)
{
	switch (sk->sk_state) {
	case TCP_FIN_WAIT1:
	case TCP_CLOSE_WAIT:
	case TCP_CLOSE:
		return true;
	default:
		return false;
	}
}

bool nvmet_tcp_rs_sk_writeable(struct sock *sk)
{
	if (!sk_stream_is_writeable(sk))
		return false;
	clear_bit(SOCK_NOSPACE, &sk->sk_socket->flags);
	return true;
}

int nvmet_tcp_rs_sk_incoming_cpu(struct sock *sk)
{
	return READ_ONCE(sk->sk_incoming_cpu);
}

u8 nvmet_tcp_rs_sk_rcv_tos(struct sock *sk)
{
	return inet_sk(sk)->rcv_tos;
}

void *nvmet_tcp_rs_sg_virt(struct scatterlist *sg)
{
	return sg_virt(sg);
}

struct page *nvmet_tcp_rs_sg_page(struct scatterlist *sg)
{
	return sg_page(sg);
}

int nvmet_tcp_rs_format_addr(char *buf, size_t len,
			     const struct sockaddr_storage *addr, bool port)
{
	return scnprintf(buf, len, port ? "%pISpc" : "%pISc", addr);
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
