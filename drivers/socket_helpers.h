/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Socket functions drivers/socket.rs, skb.rs and sk_callbacks.rs use, for the
 * bindgen input of both modules: the network headers, and one helper for each
 * static inline or macro Rust cannot call (socket_helpers.c).
 */
#ifndef NVME_TCP_RS_SOCKET_HELPERS_H
#define NVME_TCP_RS_SOCKET_HELPERS_H
#include <linux/bvec.h>
#include <linux/inet.h>
#include <linux/tcp.h>
#include <net/inet_sock.h>
#include <linux/nsproxy.h>
#include <net/net_namespace.h>
#include <net/ip.h>
#include <net/sock.h>
#include <net/tcp.h>
#include <net/tcp_states.h>
#include <net/tls.h>
#include <net/tls_prot.h>
#include <net/handshake.h>
#include <linux/nvme-keyring.h>

void nvmet_tcp_rs_sk_callbacks_write_lock(struct sock *sk);
void nvmet_tcp_rs_sk_callbacks_write_unlock(struct sock *sk);
void nvmet_tcp_rs_sk_callbacks_read_lock(struct sock *sk);
void nvmet_tcp_rs_sk_callbacks_read_unlock(struct sock *sk);
bool nvmet_tcp_rs_sk_stream_is_writeable(struct sock *sk);
u8 nvmet_tcp_rs_inet_sk_rcv_tos(struct sock *sk);
struct skb_shared_info *nvmet_tcp_rs_skb_shinfo(const struct sk_buff *skb);
void *nvmet_tcp_rs_skb_frag_address_safe(const skb_frag_t *frag);
bool nvmet_tcp_rs_skb_queue_empty_lockless(const struct sk_buff_head *list);
bool nvmet_tcp_rs_skb_frags_readable(const struct sk_buff *skb);
bool nvmet_tcp_rs_sendpages_ok(struct page *page, size_t len, size_t offset);
struct workqueue_struct *nvmet_tcp_rs_alloc_workqueue(const char *name,
						      unsigned int flags);
size_t nvmet_tcp_rs_sizeof_sock(void);
struct net *nvmet_tcp_rs_get_net(struct net *net);
struct nsproxy *nvmet_tcp_rs_current_nsproxy(void);
void nvmet_tcp_rs_put_net(struct net *net);
bool nvmet_tcp_rs_sk_has_ulp(const struct sock *sk);
#endif
