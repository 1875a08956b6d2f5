// SPDX-License-Identifier: GPL-2.0
/*
 * A QEMU TCG plugin that counts the guest instructions executed, per
 * translation block, for scripts/insn-profile.
 *
 * Arguments: reset=ADDR, dump=ADDR (guest virtual addresses, hex) and
 * out=PATH. Whenever the guest executes the block at ADDR of `reset`, every
 * count goes back to zero; at `dump`, the counts since are written to
 * PATH.N (N = 0, 1, ... per dump) as "vaddr instructions executions" lines;
 * a dump without a reset before it writes nothing.
 * The guest side points them at two system calls it makes on purpose.
 *
 * Written against the plugin API of QEMU 7.2 (Debian 12), whose header is
 * not packaged: only the few entry points used here are declared.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_info_t;

enum { QEMU_PLUGIN_INLINE_ADD_U64 = 0 };
enum { QEMU_PLUGIN_CB_NO_REGS = 0 };

typedef void (*tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*vcpu_udata_cb_t)(unsigned int vcpu, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id,
					   tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb,
					      int op, void *ptr, uint64_t imm);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb,
					  vcpu_udata_cb_t cb, int flags,
					  void *userdata);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

/* One translated block: where it starts, its length, how often it ran. */
struct block {
	uint64_t vaddr;
	uint64_t insns;
	uint64_t count;
};

/* Open addressing on (vaddr, insns); a block retranslated reuses its entry. */
#define SLOTS (1u << 22)
static struct block *table;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t reset_addr, dump_addr;
static const char *out_path = "tbcount.txt";
static int dumps;
/* A reset came since the last dump: other syncs (at shutdown, say) write nothing. */
static int armed;

static void reset_counts(unsigned int vcpu, void *userdata)
{
	for (uint32_t i = 0; i < SLOTS; i++)
		table[i].count = 0;
	armed = 1;
}

static void dump_counts(unsigned int vcpu, void *userdata)
{
	char name[4096];
	FILE *f;

	if (!armed)
		return;
	armed = 0;
	snprintf(name, sizeof(name), "%s.%d", out_path, dumps++);
	f = fopen(name, "w");
	if (!f) {
		perror(name);
		return;
	}
	for (uint32_t i = 0; i < SLOTS; i++)
		if (table[i].count)
			fprintf(f, "%llx %llu %llu\n",
				(unsigned long long)table[i].vaddr,
				(unsigned long long)table[i].insns,
				(unsigned long long)table[i].count);
	fclose(f);
}

static struct block *lookup(uint64_t vaddr, uint64_t insns)
{
	uint64_t h = vaddr * 0x9E3779B97F4A7C15ull ^ insns * 0xC2B2AE3D27D4EB4Full;
	uint32_t i = (uint32_t)(h >> 40) & (SLOTS - 1);

	for (;; i = (i + 1) & (SLOTS - 1)) {
		struct block *b = &table[i];

		if (b->insns == 0) {
			b->vaddr = vaddr;
			b->insns = insns;
			return b;
		}
		if (b->vaddr == vaddr && b->insns == insns)
			return b;
	}
}

static void translated(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	uint64_t vaddr = qemu_plugin_tb_vaddr(tb);
	struct block *b;

	pthread_mutex_lock(&lock);
	b = lookup(vaddr, qemu_plugin_tb_n_insns(tb));
	pthread_mutex_unlock(&lock);
	qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64,
						 &b->count, 1);
	if (vaddr == reset_addr)
		qemu_plugin_register_vcpu_tb_exec_cb(tb, reset_counts,
						     QEMU_PLUGIN_CB_NO_REGS, NULL);
	if (vaddr == dump_addr)
		qemu_plugin_register_vcpu_tb_exec_cb(tb, dump_counts,
						     QEMU_PLUGIN_CB_NO_REGS, NULL);
}

__attribute__((visibility("default")))
int qemu_plugin_install(qemu_plugin_id_t id, const struct qemu_info_t *info,
			int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		if (!strncmp(argv[i], "reset=", 6))
			reset_addr = strtoull(argv[i] + 6, NULL, 16);
		else if (!strncmp(argv[i], "dump=", 5))
			dump_addr = strtoull(argv[i] + 5, NULL, 16);
		else if (!strncmp(argv[i], "out=", 4))
			out_path = strdup(argv[i] + 4);
		else {
			fprintf(stderr, "tbcount: unknown argument %s\n", argv[i]);
			return -1;
		}
	}
	if (!reset_addr || !dump_addr) {
		fprintf(stderr, "tbcount: reset= and dump= are required\n");
		return -1;
	}
	table = calloc(SLOTS, sizeof(*table));
	if (!table)
		return -1;
	qemu_plugin_register_vcpu_tb_trans_cb(id, translated);
	return 0;
}
