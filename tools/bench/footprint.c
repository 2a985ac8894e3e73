// SPDX-License-Identifier: GPL-2.0
/*
 * A QEMU TCG plugin that counts what one vCPU runs between two marker
 * stores of bench.c (BENCH_FOOTPRINT): a store to FOOTPRINT_START opens a
 * window on the vCPU that made it, a store to FOOTPRINT_START + 64 on that
 * vCPU closes it and prints one line:
 *
 *   footprint insns N tbs N distinct_tbs N crossings N code_pages N
 *             code_lines N accesses N data_pages N data_lines N
 *
 * tbs are the translated blocks run, distinct_tbs how many different ones,
 * crossings how often the next block starts on another page than the last
 * ended (QEMU chains blocks directly only within a page; across pages it
 * looks the next one up). Unlike an instruction count this shows the code
 * footprint: after a TLB flush (every CR3 write under TCG) QEMU also drops
 * its per-vCPU cache of block lookups, so each distinct block and page
 * costs a lookup again.
 *
 * With the plugin argument blocks=on, each such line is followed by one
 * listing the window's distinct blocks: footprint-blocks ADDR ... (hex).
 *
 * Debian ships no plugin header: the declarations below are those of
 * QEMU's include/qemu/qemu-plugin.h (plugin API version 4, QEMU 10.0)
 * that this plugin calls. Built and loaded by tools/bench/footprint.sh.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

typedef uint64_t qemu_plugin_id_t;
typedef uint32_t qemu_plugin_meminfo_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
struct qemu_info_t;

enum { QEMU_PLUGIN_CB_NO_REGS };
enum { QEMU_PLUGIN_MEM_RW = 3 };

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id,
					   void (*cb)(qemu_plugin_id_t, struct qemu_plugin_tb *));
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb,
					  void (*cb)(unsigned int, void *), int flags,
					  void *userdata);
void qemu_plugin_register_vcpu_mem_cb(struct qemu_plugin_insn *insn,
				      void (*cb)(unsigned int, qemu_plugin_meminfo_t,
						 uint64_t, void *),
				      int flags, int rw, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
bool qemu_plugin_mem_is_store(qemu_plugin_meminfo_t info);
void qemu_plugin_outs(const char *string);

EXPORT int qemu_plugin_version = 4;

#define FOOTPRINT_START 0x5a5a00000000ULL
#define FOOTPRINT_STOP (FOOTPRINT_START + 64)

/* A set of 64-bit keys (open addressing), cleared by its used slots. */
#define SET_BITS 20
#define SET_SIZE (1u << SET_BITS)

struct set {
	uint64_t *slot;		/* key + 1; 0 is empty */
	uint32_t *used;		/* indexes of the filled slots */
	uint32_t n;
};

enum { CODE_PAGES, CODE_LINES, DATA_PAGES, DATA_LINES, BLOCKS, NR_SETS };
static struct set sets[NR_SETS];

/* The window: the vCPU it is open on (-1: none) and its counts. */
static int window_vcpu = -1;
static uint64_t insns, tbs, crossings, accesses, last_page;
/* With the argument blocks=on: also print each window's distinct blocks. */
static bool print_blocks;

/* A translated block, as its execution callback sees it. */
struct block {
	uint64_t start, end;
	size_t insns;
};

static int set_init(struct set *s)
{
	s->slot = calloc(SET_SIZE, sizeof(*s->slot));
	s->used = calloc(SET_SIZE, sizeof(*s->used));
	s->n = 0;
	return s->slot && s->used ? 0 : -1;
}

/* Adds key; a full set counts no more. */
static void set_add(struct set *s, uint64_t key)
{
	uint32_t h = (uint32_t)(((key + 1) * 0x9e3779b97f4a7c15ULL) >> (64 - SET_BITS));

	if (s->n >= SET_SIZE / 2)
		return;
	while (s->slot[h]) {
		if (s->slot[h] == key + 1)
			return;
		h = (h + 1) & (SET_SIZE - 1);
	}
	s->slot[h] = key + 1;
	s->used[s->n++] = h;
}

static void set_clear(struct set *s)
{
	for (uint32_t i = 0; i < s->n; i++)
		s->slot[s->used[i]] = 0;
	s->n = 0;
}

static void block_run(unsigned int vcpu, void *userdata)
{
	const struct block *b = userdata;

	if ((int)vcpu != window_vcpu)
		return;
	insns += b->insns;
	tbs++;
	set_add(&sets[BLOCKS], b->start);
	if (b->start >> 12 != last_page)
		crossings++;
	last_page = (b->end - 1) >> 12;
	for (uint64_t a = b->start & ~63ULL; a < b->end; a += 64)
		set_add(&sets[CODE_LINES], a >> 6);
	for (uint64_t a = b->start & ~4095ULL; a < b->end; a += 4096)
		set_add(&sets[CODE_PAGES], a >> 12);
}

static void window_open(unsigned int vcpu)
{
	window_vcpu = vcpu;
	insns = tbs = crossings = accesses = last_page = 0;
	for (int i = 0; i < NR_SETS; i++)
		set_clear(&sets[i]);
}

/* One line: footprint-blocks ADDR ..., the window's distinct block starts. */
static void window_print_blocks(void)
{
	const struct set *s = &sets[BLOCKS];
	char word[24];

	qemu_plugin_outs("footprint-blocks");
	for (uint32_t i = 0; i < s->n; i++) {
		snprintf(word, sizeof(word), " %llx", (unsigned long long)(s->slot[s->used[i]] - 1));
		qemu_plugin_outs(word);
	}
	qemu_plugin_outs("\n");
}

static void window_close(void)
{
	char line[256];

	snprintf(line, sizeof(line),
		 "footprint insns %llu tbs %llu distinct_tbs %u crossings %llu code_pages %u code_lines %u accesses %llu data_pages %u data_lines %u\n",
		 (unsigned long long)insns, (unsigned long long)tbs, sets[BLOCKS].n,
		 (unsigned long long)crossings, sets[CODE_PAGES].n, sets[CODE_LINES].n,
		 (unsigned long long)accesses, sets[DATA_PAGES].n, sets[DATA_LINES].n);
	qemu_plugin_outs(line);
	if (print_blocks)
		window_print_blocks();
	window_vcpu = -1;
}

static void memory_access(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr,
			  void *userdata)
{
	if (vaddr == FOOTPRINT_START && qemu_plugin_mem_is_store(info)) {
		window_open(vcpu);
		return;
	}
	if ((int)vcpu != window_vcpu)
		return;
	if (vaddr == FOOTPRINT_STOP && qemu_plugin_mem_is_store(info)) {
		window_close();
		return;
	}
	accesses++;
	set_add(&sets[DATA_LINES], vaddr >> 6);
	set_add(&sets[DATA_PAGES], vaddr >> 12);
}

static void block_translated(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	size_t n = qemu_plugin_tb_n_insns(tb);
	struct qemu_plugin_insn *last = qemu_plugin_tb_get_insn(tb, n - 1);
	/* Lives as long as QEMU may run the block: never freed. */
	struct block *b = malloc(sizeof(*b));

	if (!b)
		abort();
	b->start = qemu_plugin_tb_vaddr(tb);
	b->end = qemu_plugin_insn_vaddr(last) + qemu_plugin_insn_size(last);
	b->insns = n;
	qemu_plugin_register_vcpu_tb_exec_cb(tb, block_run, QEMU_PLUGIN_CB_NO_REGS, b);
	for (size_t i = 0; i < n; i++)
		qemu_plugin_register_vcpu_mem_cb(qemu_plugin_tb_get_insn(tb, i), memory_access,
						 QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_MEM_RW, NULL);
}

EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const struct qemu_info_t *info, int argc,
			       char **argv)
{
	for (int i = 0; i < argc; i++)
		if (!strcmp(argv[i], "blocks=on"))
			print_blocks = true;
	for (int i = 0; i < NR_SETS; i++)
		if (set_init(&sets[i]))
			return -1;
	qemu_plugin_register_vcpu_tb_trans_cb(id, block_translated);
	return 0;
}
