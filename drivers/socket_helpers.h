/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Socket functions and helpers drivers/socket.rs uses, for the bindgen input
 * of both modules (helpers in socket_helpers.c).
 */
#ifndef NVME_TCP_RS_SOCKET_HELPERS_H
#define NVME_TCP_RS_SOCKET_HELPERS_H
#include <linux/bvec.h>
#include <linux/inet.h>
#include <linux/tcp.h>
#include <net/ip.h>
#include <net/sock.h>

/* The three socket callbacks a queue or port replaces. */
struct nvmet_tcp_rs_hooks {
	void (*data_ready)(struct sock *sk);
	void (*write_space)(struct sock *sk);
	void (*state_change)(struct sock *sk);
};

int nvmet_tcp_rs_sk_install(struct sock *sk, void *user,
			    const struct nvmet_tcp_rs_hooks *ours,
			    struct nvmet_tcp_rs_hooks *saved, bool established);
void *nvmet_tcp_rs_sk_restore(struct sock *sk,
			      const struct nvmet_tcp_rs_hooks *saved);
void *nvmet_tcp_rs_sk_read_lock(struct sock *sk);
void nvmet_tcp_rs_sk_read_unlock(struct sock *sk);
bool nvmet_tcp_rs_sk_listening(struct sock *sk);
bool nvmet_tcp_rs_sk_closing(struct sock *sk);
bool nvmet_tcp_rs_sk_writeable(struct sock *sk);
int nvmet_tcp_rs_sk_incoming_cpu(struct sock *sk);
u8 nvmet_tcp_rs_sk_rcv_tos(struct sock *sk);
int nvmet_tcp_rs_format_addr(char *buf, size_t len,
			     const struct sockaddr_storage *addr, bool port);
/*
 * Called on each contiguous piece of received bytes: the @len bytes at @data
 * are bytes @offset.. of @skb, of which @avail (at least @len) may be
 * consumed, those after the piece by copying them out of @skb. Returns how
 * many it consumed: fewer than @len stops the read.
 */
typedef u32 (*nvmet_tcp_rs_piece_fn)(void *arg, const u8 *data, u32 len,
				     const struct sk_buff *skb, u32 offset,
				     u32 avail);
int nvmet_tcp_rs_sk_read(struct sock *sk, nvmet_tcp_rs_piece_fn piece,
			 void *arg, bool *eof);
void nvmet_tcp_rs_sk_client_opts(struct sock *sk, long rcvtimeo);
struct workqueue_struct *nvmet_tcp_rs_alloc_io_wq(const char *name,
						  bool unbound);
#endif
