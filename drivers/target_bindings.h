/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Input of bindgen for the target module: the private nvmet core header,
 * which is not part of `kernel::bindings`, the socket functions the kernel
 * crate does not bind, and the helpers of target_helpers.c.
 */
#include <linux/inet.h>
#include <linux/tcp.h>
#include <net/ip.h>
#include <net/sock.h>
#include "drivers/nvme/target/nvmet.h"

/* The three socket callbacks a queue or port replaces. */
struct nvmet_tcp_rs_hooks {
	void (*data_ready)(struct sock *sk);
	void (*write_space)(struct sock *sk);
	void (*state_change)(struct sock *sk);
};

/* Helpers of target_helpers.c. */
int nvmet_tcp_rs_so_priority(void);
int nvmet_tcp_rs_idle_poll_usecs(void);
bool nvmet_tcp_rs_ratelimit(void);
struct workqueue_struct *nvmet_tcp_rs_alloc_wq(void);
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
void *nvmet_tcp_rs_sg_virt(struct scatterlist *sg);
struct page *nvmet_tcp_rs_sg_page(struct scatterlist *sg);
int nvmet_tcp_rs_format_addr(char *buf, size_t len,
			     const struct sockaddr_storage *addr, bool port);
size_t nvmet_tcp_rs_sizeof_fabrics_ops(void);
size_t nvmet_tcp_rs_sizeof_port(void);
size_t nvmet_tcp_rs_sizeof_req(void);
size_t nvmet_tcp_rs_sizeof_sq(void);
