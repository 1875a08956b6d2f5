/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Input of bindgen for the target module: the private nvmet core header,
 * which is not part of `kernel::bindings`, the socket functions the kernel
 * crate does not bind (socket_helpers.h), and the helpers of
 * target_helpers.c.
 */
#include "socket_helpers.h"
#include "drivers/nvme/target/nvmet.h"
#include <linux/nvme-keyring.h>
#include <net/handshake.h>
#include <net/tls_prot.h>

/* Helpers of target_helpers.c: one static inline, macro or sizeof each. */
int nvmet_tcp_rs_so_priority(void);
bool nvmet_tcp_rs_wq_highpri(void);
int nvmet_tcp_rs_idle_poll_usecs(void);
int nvmet_tcp_rs_connect_timeout(void);
int nvmet_tcp_rs_tls_handshake_timeout(void);
bool nvmet_tcp_rs_ratelimit(void);
void *nvmet_tcp_rs_sg_virt(struct scatterlist *sg);
struct page *nvmet_tcp_rs_sg_page(struct scatterlist *sg);
struct page *nvmet_tcp_rs_virt_to_page(const void *addr);
struct key *nvmet_tcp_rs_sq_xchg_tls_key(struct nvmet_sq *sq, struct key *key);
void nvmet_tcp_rs_sq_put_tls_key(struct nvmet_sq *sq);
size_t nvmet_tcp_rs_sizeof_fabrics_ops(void);
size_t nvmet_tcp_rs_sizeof_port(void);
size_t nvmet_tcp_rs_sizeof_req(void);
size_t nvmet_tcp_rs_sizeof_sq(void);

/* In Rust (drivers/nvmet.rs, params): the check of a parameter write. */
int nvmet_tcp_rs_param_set(const char *val, const struct kernel_param *kp);
