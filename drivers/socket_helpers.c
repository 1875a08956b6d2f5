// SPDX-License-Identifier: GPL-2.0
/*
 * Socket helpers shared by both modules: each is one static inline or macro
 * of the network headers that Rust cannot call through bindgen, or the sizeof
 * of a structure Rust shares with C, for a load-time check. The decisions
 * around them are made in drivers/socket.rs, skb.rs and sk_callbacks.rs.
 *
 * Not an object of its own: each module's helper file includes it, so each
 * module has its own copy and no object is linked into two modules.
 */
#include <linux/workqueue.h>
#include "socket_helpers.h"

/* The socket's callbacks and sk_user_data are changed and read under it. */
void nvmet_tcp_rs_sk_callbacks_write_lock(struct sock *sk)
{
	write_lock_bh(&sk->sk_callback_lock);
}

void nvmet_tcp_rs_sk_callbacks_write_unlock(struct sock *sk)
{
	write_unlock_bh(&sk->sk_callback_lock);
}

void nvmet_tcp_rs_sk_callbacks_read_lock(struct sock *sk)
{
	read_lock_bh(&sk->sk_callback_lock);
}

void nvmet_tcp_rs_sk_callbacks_read_unlock(struct sock *sk)
{
	read_unlock_bh(&sk->sk_callback_lock);
}

bool nvmet_tcp_rs_sk_stream_is_writeable(struct sock *sk)
{
	return sk_stream_is_writeable(sk);
}

u8 nvmet_tcp_rs_inet_sk_rcv_tos(struct sock *sk)
{
	return inet_sk(sk)->rcv_tos;
}

struct skb_shared_info *nvmet_tcp_rs_skb_shinfo(const struct sk_buff *skb)
{
	return skb_shinfo(skb);
}

void *nvmet_tcp_rs_skb_frag_address_safe(const skb_frag_t *frag)
{
	return skb_frag_address_safe(frag);
}

bool nvmet_tcp_rs_skb_queue_empty_lockless(const struct sk_buff_head *list)
{
	return skb_queue_empty_lockless(list);
}

bool nvmet_tcp_rs_skb_frags_readable(const struct sk_buff *skb)
{
	return skb_frags_readable(skb);
}

bool nvmet_tcp_rs_sendpages_ok(struct page *page, size_t len, size_t offset)
{
	return sendpages_ok(page, len, offset);
}

/* alloc_workqueue is a macro. */
struct workqueue_struct *nvmet_tcp_rs_alloc_workqueue(const char *name,
						      unsigned int flags)
{
	return alloc_workqueue("%s", flags, 0, name);
}

/* For the load-time layout check of drivers/socket.rs. */
size_t nvmet_tcp_rs_sizeof_sock(void)
{
	return sizeof(struct sock);
}

/* A network namespace's count (drivers/net_ns.rs). */
struct net *nvmet_tcp_rs_get_net(struct net *net)
{
	return get_net(net);
}

void nvmet_tcp_rs_put_net(struct net *net)
{
	put_net(net);
}

/* current is a macro; the C compiler knows where task_struct keeps nsproxy. */
struct nsproxy *nvmet_tcp_rs_current_nsproxy(void)
{
	return current->nsproxy;
}

/* Whether an upper-layer protocol (kTLS) sits on the socket (drivers/sk_callbacks.rs). */
bool nvmet_tcp_rs_sk_has_ulp(const struct sock *sk)
{
	return inet_csk_has_ulp(sk);
}
