// SPDX-License-Identifier: GPL-2.0
/*
 * Socket helpers shared by both modules (what drivers/socket.rs cannot reach
 * through bindgen). Not an object of its own: each module's helper file
 * includes it, so each module has its own copy and no object is linked into
 * two modules.
 */
#include <linux/tcp.h>
#include <net/inet_sock.h>
#include <net/sock.h>
#include <net/tcp_states.h>
#include "socket_helpers.h"

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

int nvmet_tcp_rs_format_addr(char *buf, size_t len,
			     const struct sockaddr_storage *addr, bool port)
{
	return scnprintf(buf, len, port ? "%pISpc" : "%pISc", addr);
}

/* Socket options of a host connection, as the C host sets them. */
void nvmet_tcp_rs_sk_client_opts(struct sock *sk, long rcvtimeo)
{
	tcp_sock_set_syncnt(sk, 1);
	sk->sk_rcvtimeo = rcvtimeo;
	sk->sk_allocation = GFP_ATOMIC;
	sk->sk_use_task_frag = false;
	sk_set_memalloc(sk);
}

/*
 * A module's I/O workqueue: high priority, reclaim-safe, per-CPU unless
 * unbound (as the C transports' nvme_tcp_wq and nvmet_tcp_wq).
 */
struct workqueue_struct *nvmet_tcp_rs_alloc_io_wq(const char *name,
						  bool unbound)
{
	return alloc_workqueue("%s", WQ_MEM_RECLAIM | WQ_HIGHPRI |
			       (unbound ? WQ_UNBOUND : WQ_PERCPU), 0, name);
}
