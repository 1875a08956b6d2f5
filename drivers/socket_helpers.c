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
#include <net/tcp.h>
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

struct nvmet_tcp_rs_reader {
	nvmet_tcp_rs_piece_fn piece;
	void *arg;
	bool stopped;
};

/*
 * Hands the @len bytes at @p, bytes @at.. of @skb, to the reader, which may
 * consume up to @avail bytes of @skb from there; returns how many it consumed.
 */
static u32 nvmet_tcp_rs_give(struct nvmet_tcp_rs_reader *r, const u8 *p,
			     u32 len, const struct sk_buff *skb, u32 at,
			     u32 avail)
{
	u32 taken = r->piece(r->arg, p, len, skb, at, avail);

	if (taken < len)
		r->stopped = true;
	return min(taken, avail);
}

/*
 * Hands bytes [@offset, @offset + @len) of @skb to the reader, each
 * contiguous piece in place (the linear part, each fragment, then the skbs of
 * the fragment list); where a fragment cannot be read in place (no mapping),
 * it is copied out a bounce buffer at a time. The reader may consume more
 * than a piece (copying the bytes after it out of @skb itself): the walk
 * resumes after what it consumed. Returns the bytes consumed, or -EFAULT if
 * none could be read.
 */
static int nvmet_tcp_rs_give_skb(struct nvmet_tcp_rs_reader *r,
				 const struct sk_buff *skb, u32 offset, u32 len)
{
	const struct sk_buff *list;
	u32 start, end = skb_headlen(skb), used = 0;
	int i;

	if (offset < end)
		used = nvmet_tcp_rs_give(r, skb->data + offset,
					 min(end - offset, len), skb, offset, len);
	if (used < len && !r->stopped && !skb_frags_readable(skb))
		return used ? used : -EFAULT;
	for (i = 0; used < len && !r->stopped &&
		    i < skb_shinfo(skb)->nr_frags; i++) {
		const skb_frag_t *frag = &skb_shinfo(skb)->frags[i];
		u32 at = offset + used, n;
		const u8 *p;
		/* Filled before use (not zeroed, INIT_STACK_ALL_ZERO). */
		u8 bounce[64] __uninitialized;

		start = end;
		end = start + skb_frag_size(frag);
		if (at >= end)
			continue;
		n = min(end - at, len - used);
		p = skb_frag_address_safe(frag);
		if (p) {
			used += nvmet_tcp_rs_give(r, p + (at - start), n, skb,
						  at, len - used);
			continue;
		}
		n = min_t(u32, n, sizeof(bounce));
		if (skb_copy_bits(skb, at, bounce, n))
			return used ? used : -EFAULT;
		used += nvmet_tcp_rs_give(r, bounce, n, skb, at, len - used);
		/* The rest of this fragment in the next round. */
		end = start;
		i--;
	}
	skb_walk_frags(skb, list) {
		u32 at = offset + used;
		int got;

		if (used >= len || r->stopped)
			break;
		start = end;
		end = start + list->len;
		if (at >= end)
			continue;
		got = nvmet_tcp_rs_give_skb(r, list, at - start,
					    min(end - at, len - used));
		if (got < 0)
			return used ? used : got;
		used += got;
	}
	return used;
}

/*
 * tcp_read_sock actor: hands the bytes of @skb to the reader. A piece not
 * consumed whole stops the read.
 */
static int nvmet_tcp_rs_read_actor(read_descriptor_t *desc,
				   struct sk_buff *skb, unsigned int offset,
				   size_t len)
{
	struct nvmet_tcp_rs_reader *r = desc->arg.data;
	int used;

	if (r->stopped)
		return 0;
	used = nvmet_tcp_rs_give_skb(r, skb, offset, min_t(size_t, len, INT_MAX));
	if (r->stopped)
		desc->count = 0;
	return used;
}

/*
 * Reads what has arrived on @sk without waiting, passing it to @piece in
 * contiguous pieces (see the actor). Returns the bytes consumed (0 if @piece
 * consumed nothing); -EAGAIN if nothing had arrived; 0 with *@eof set once the
 * peer closed and everything was read; or the socket's error.
 */
int nvmet_tcp_rs_sk_read(struct sock *sk, nvmet_tcp_rs_piece_fn piece,
			 void *arg, bool *eof)
{
	struct nvmet_tcp_rs_reader r = { .piece = piece, .arg = arg };
	read_descriptor_t desc = { .arg.data = &r, .count = 1 };
	int ret, err;

	lock_sock(sk);
	ret = tcp_read_sock(sk, &desc, nvmet_tcp_rs_read_actor);
	if (ret == 0 && !r.stopped) {
		err = READ_ONCE(sk->sk_err);
		if (err)
			ret = -err;
		else if (READ_ONCE(sk->sk_shutdown) & RCV_SHUTDOWN)
			*eof = true;
		else
			ret = -EAGAIN;
	}
	release_sock(sk);
	return ret;
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
