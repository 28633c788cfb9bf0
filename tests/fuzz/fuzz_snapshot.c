/*
 * fuzz_snapshot: the snapshot loader (core/snapshot_codec.c) on arbitrary
 * files, restoring what it accepts into a table as the daemon does.
 *
 * Checksums would stop almost every mutation at the first block, so with
 * the first byte even the harness first recomputes every block's check
 * value: the fuzzer then reaches the record checks, the block order, the
 * totals and the duplicate detection.  With it odd the file is read as
 * it is.  Invariants: a refusal delivers nothing; an accepted file
 * delivers exactly the flows it counted, and the table holds each one
 * delivered that it took.
 *
 * With FUZZ_SNAPSHOT_SEED=PATH set, the target writes a valid snapshot
 * there at start (tests/fuzz/run uses it as the seed) and carries on.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_snapshot.h"
#include "hs_table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define NOW 1000000u

static struct hs_table *make_table(uint64_t now)
{
	struct hs_table_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.max_flows = 64;
	cfg.pickup = true;
	static const uint32_t timeouts[HS_TIMEOUT_CLASS_COUNT] = HS_DEFAULT_TIMEOUTS_MS;
	memcpy(cfg.timeout_ms, timeouts, sizeof(timeouts));
	struct hs_table *t = hs_table_create(&cfg, now);
	if (!t)
		abort();
	return t;
}

struct ctx {
	struct hs_table *table;
	uint64_t sections, flows, memory, restored;
};

static void on_section(void *p, const struct hs_snap_section *s)
{
	(void)s;
	((struct ctx *)p)->sections++;
}

static void on_flow(void *p, const struct hs_snap_section *s, const struct hs_flow *image,
		    const struct hs_flow_ages *ages)
{
	struct ctx *c = p;
	(void)s;

	c->flows++;
	if (hs_table_restore_flow(c->table, image, ages, NOW, true) == HS_RESTORE_OK)
		c->restored++;
}

static void on_memory(void *p, const struct hs_snap_section *s, const struct hs_engine_memory_entry *e)
{
	(void)s;
	(void)e;
	((struct ctx *)p)->memory++;
}

/* Recomputes the check value of every whole block, as a writer would have. */
static void fix_checks(uint8_t *d, size_t n)
{
	uint64_t chain = 0, index = 0;
	size_t off = 12;

	while (n - off >= 16 && n >= off) {
		uint32_t len = (uint32_t)d[off + 4] | (uint32_t)d[off + 5] << 8 | (uint32_t)d[off + 6] << 16 |
			       (uint32_t)d[off + 7] << 24;
		if (len > HS_SNAP_BLOCK_MAX || n - off - 16 < len)
			return;
		uint64_t check = hs_snap_block_check(chain, index, d + off, 8u + len);
		for (int i = 0; i < 8; i++)
			d[off + 8 + len + (size_t)i] = (uint8_t)(check >> (8 * i));
		chain = check;
		index++;
		off += 16u + len;
	}
}

/* Counts what hs_snap_deliver hands over, restoring nothing. */
struct counts {
	uint64_t sections, flows, memory;
};

static void count_section(void *p, const struct hs_snap_section *s)
{
	(void)s;
	((struct counts *)p)->sections++;
}

static void count_flow(void *p, const struct hs_snap_section *s, const struct hs_flow *image,
		       const struct hs_flow_ages *ages)
{
	(void)s;
	(void)image;
	(void)ages;
	((struct counts *)p)->flows++;
}

static void count_memory(void *p, const struct hs_snap_section *s, const struct hs_engine_memory_entry *e)
{
	(void)s;
	(void)e;
	((struct counts *)p)->memory++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct hs_snap_visitor counter = { count_section, count_flow, count_memory };
	struct counts again = { 0 };
	static const struct hs_snap_visitor visitor = { on_section, on_flow, on_memory };
	struct hs_snap_header h;
	struct hs_snap_totals totals;
	char why[256];

	if (size < 1)
		return 0;
	/* A copy of exactly the file's size, so that any read past it is caught. */
	size_t n = size - 1;
	uint8_t *file = malloc(n ? n : 1);
	if (!file)
		return 0;
	memcpy(file, data + 1, n);
	if (data[0] % 2 == 0 && n >= 12)
		fix_checks(file, n);
	struct ctx c = { .table = make_table(NOW) };
	int rc = hs_snap_read(file, n, &h, &totals, &visitor, &c, why, sizeof(why));
	/* Delivery without the checks stays inside the buffer whatever it holds, and repeats an accepted file. */
	int again_rc = hs_snap_deliver(file, n, &counter, &again);
	if (rc == 0 && (again_rc != 0 || again.sections != totals.sections || again.flows != totals.flows ||
			again.memory != totals.memory)) {
		fprintf(stderr, "invariant failed: hs_snap_deliver differs from hs_snap_read on an accepted file\n");
		abort();
	}
	if (rc < 0) {
		if (c.sections || c.flows || c.memory || hs_table_stats(c.table)->live) {
			fprintf(stderr, "invariant failed: a refused file delivered something (%s)\n", why);
			abort();
		}
		if (!why[0]) {
			fprintf(stderr, "invariant failed: a refusal without a reason\n");
			abort();
		}
	} else if (c.flows != totals.flows || c.memory != totals.memory || c.sections != totals.sections ||
		   hs_table_stats(c.table)->live != c.restored) {
		fprintf(stderr, "invariant failed: delivered %lu flows of %lu, table holds %u of %lu restored\n",
			(unsigned long)c.flows, (unsigned long)totals.flows, hs_table_stats(c.table)->live,
			(unsigned long)c.restored);
		abort();
	} else {
		/* What was restored must expire cleanly. */
		hs_table_expire(c.table, NOW + 30ull * 24 * 3600 * 1000);
	}
	hs_table_destroy(c.table);
	free(file);
	return 0;
}

static bool seed_emit(void *ctx, const void *bytes, size_t len)
{
	return fwrite(bytes, 1, len, ctx) == len;
}

/* A valid snapshot of a few flows, with the leading mode byte. */
static void write_seed(const char *path)
{
	FILE *out = fopen(path, "wb");
	struct hs_table *t = make_table(NOW);
	struct hs_snap_writer w;
	struct hs_snap_header h = { .saved_wall_ms = 1, .sections = 1 };
	struct hs_snap_section s = { .queue = 0, .next_id = 1, .id_step = 1 };

	if (!out || !hs_snap_writer_init(&w, seed_emit, out))
		abort();
	fputc(0, out);
	hs_snap_write_header(&w, &h);
	hs_snap_write_section(&w, &s);
	for (uint32_t i = 0; i < 3; i++) {
		struct hs_flow_v6 f6;
		struct hs_flow *f = &f6.flow;
		struct hs_flow_key key;
		struct hs_flow_ages ages = { 100 * i, 10 * i, 50 * i };

		memset(&f6, 0, sizeof(f6));
		memset(&key, 0, sizeof(key));
		key.addr[0].bytes[0] = 10;
		key.addr[1].bytes[0] = (uint8_t)(20 + i);
		key.port[0] = 40000;
		key.port[1] = 80;
		hs_flow_key_set(&f6, &key, i == 2 ? HS_FAMILY_IPV6 : HS_FAMILY_IPV4);
		f->flags = HS_FLOW_IN_USE | HS_FLOW_ESTABLISHED;
		f->state[0] = f->state[1] = HS_TCP_ESTABLISHED;
		f->history[0] = 0x91;
		f->id = i + 1;
		if (hs_table_restore_flow(t, f, &ages, NOW, true) != HS_RESTORE_OK)
			abort();
		hs_snap_write_flow(&w, t, hs_table_lookup(t, &key), NOW);
	}
	struct hs_engine_memory_entry m = { HS_MEMORY_KNOWN, 42, 10, 0 };
	hs_snap_write_memory(&w, &m);
	if (!hs_snap_writer_finish(&w))
		abort();
	hs_snap_writer_free(&w);
	hs_table_destroy(t);
	fclose(out);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *seed = getenv("FUZZ_SNAPSHOT_SEED");

	if (seed)
		write_seed(seed);
	return 0;
}
