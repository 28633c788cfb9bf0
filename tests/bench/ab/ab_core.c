/*
 * ab_core: the tracking core of two source trees, A and B, timed side by
 * side in one process on the same traffic (make bench-ab, ab_core.sh).
 *
 * Two runs of bench_core, one per build, differ by some 5% at 1M flows on
 * this kind of machine whatever the code: other tenants, memory traffic and
 * the clock drift between runs.  Here both builds track tables of the same
 * flows under the same hash key, and their bursts alternate at a fine
 * grain (a stretch of 256 packets each, A-B then B-A), so that whatever
 * slows the machine slows both alike.  Identical trees measure within
 * some 0.5% of each other.
 *
 * ab_core.sh builds each tree's core (daemon/core) into one relocatable
 * object whose public symbols it renames with the prefix A_ or B_, and
 * links both with this program.  Each build has its own table: a change
 * may change the record's layout.  The program calls only what every
 * tree's hs_table.h has declared for long (create, track, track_batch,
 * destroy), and builds packets and configurations from this checkout's
 * headers, so those structures must agree between A and B.
 *
 * Usage: ab_core [flows [rounds]]; RANDOM_SIDES set in the environment
 * sends each packet from a random side instead of alternating sides.
 * Prints, for A and B, ns per packet on the batch path, and B/A overall
 * and over 20 blocks of rounds (spread and median).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "hs_table.h"
#include "bench_flows.h"
#include "bench_util.h"

#define DECLARE_BUILD(P)                                                                                         \
	struct hs_table *P##hs_table_create(const struct hs_table_config *cfg, uint64_t now_ms);                 \
	void P##hs_table_track(struct hs_table *t, const struct hs_packet *pkt, uint64_t now_ms,                 \
			       struct hs_track_result *res);                                                    \
	void P##hs_table_track_batch(struct hs_table *t, const struct hs_packet *const *pkts, size_t n,           \
				     uint64_t now_ms, struct hs_track_result *res, hs_track_done done, void *ctx); \
	void P##hs_table_destroy(struct hs_table *t);

DECLARE_BUILD(A_)
DECLARE_BUILD(B_)

/* One build of the core and the table it tracks. */
struct build {
	const char *name;
	struct hs_table *(*create)(const struct hs_table_config *, uint64_t);
	bench_track_fn *track;
	void (*track_batch)(struct hs_table *, const struct hs_packet *const *, size_t, uint64_t,
			    struct hs_track_result *, hs_track_done, void *);
	void (*destroy)(struct hs_table *);
	struct hs_table *table;
};

static struct build builds[2] = {
	{ "A", A_hs_table_create, A_hs_table_track, A_hs_table_track_batch, A_hs_table_destroy, NULL },
	{ "B", B_hs_table_create, B_hs_table_track, B_hs_table_track_batch, B_hs_table_destroy, NULL },
};

#define BURST 32u
#define STRETCH 8u             /* bursts a build tracks before the other takes its turn */
#define BLOCKS 20              /* groups of rounds whose B/A give the spread */
#define STRETCH_PACKETS (STRETCH * BURST)

static struct hs_packet packets[STRETCH_PACKETS];
static const struct hs_packet *packet_ptrs[STRETCH_PACKETS];
static struct hs_track_result results[STRETCH_PACKETS];
static uint32_t random_state = 2463534242u;
static bool random_sides;

static uint32_t next_random(void)
{
	random_state ^= random_state << 13;
	random_state ^= random_state >> 17;
	random_state ^= random_state << 5;
	return random_state;
}

/* Established traffic as bench_core sends it: valid pure ACKs of random flows. */
static void fill_stretch(uint32_t flows)
{
	for (uint32_t b = 0; b < STRETCH_PACKETS; b++) {
		uint32_t r = next_random();

		bench_flow_ack(&packets[b], r % flows, random_sides ? ((r >> 7) & 1) : (b & 1) == 0);
	}
}

/* ns to track the stretch in bursts; exits if any packet was judged invalid (the builds disagree with the traffic). */
static uint64_t track_stretch(const struct build *b, uint64_t now_ms)
{
	uint64_t start = now_ns();

	for (uint32_t k = 0; k < STRETCH_PACKETS; k += BURST)
		b->track_batch(b->table, packet_ptrs + k, BURST, now_ms, results + k, NULL, NULL);
	uint64_t took = now_ns() - start;
	for (uint32_t k = 0; k < STRETCH_PACKETS; k++) {
		if (results[k].invalid || !results[k].flow) {
			fprintf(stderr, "ab_core: build %s judged a valid packet invalid or found no flow\n", b->name);
			exit(1);
		}
	}
	return took;
}

/* A table of `flows` established flows in each build, under one hash key. */
static void create_tables(uint32_t flows)
{
	struct hs_table_config cfg = { .max_flows = flows, .pickup = true, .timeout_ms = HS_DEFAULT_TIMEOUTS_MS };

	for (int i = 0; i < 16; i++)
		cfg.hash_key[i] = (uint8_t)(next_random() & 0xff);
	for (int k = 0; k < 2; k++) {
		struct build *b = &builds[k];

		b->table = b->create(&cfg, 0);
		if (!b->table) {
			perror("ab_core: hs_table_create");
			exit(1);
		}
		for (uint32_t i = 0; i < flows; i++) {
			if (!bench_flow_handshake(b->track, b->table, i, 1000)) {
				fprintf(stderr, "ab_core: build %s did not establish flow %u\n", b->name, i);
				exit(1);
			}
		}
	}
}

static void report(uint32_t flows, uint32_t rounds, const double ns[2][BLOCKS])
{
	double packets_per_block = (double)rounds / BLOCKS * STRETCH_PACKETS, total[2] = { 0, 0 }, ratio[BLOCKS];

	for (int i = 0; i < BLOCKS; i++) {
		total[0] += ns[0][i];
		total[1] += ns[1][i];
		ratio[i] = ns[1][i] / ns[0][i];
	}
	qsort(ratio, BLOCKS, sizeof(ratio[0]), bench_cmp_double);
	printf("flows %u: A %.2f ns/pkt, B %.2f ns/pkt, B/A %.4f (blocks %.4f..%.4f, median %.4f)\n", flows,
	       total[0] / (packets_per_block * BLOCKS), total[1] / (packets_per_block * BLOCKS), total[1] / total[0],
	       ratio[0], ratio[BLOCKS - 1], ratio[BLOCKS / 2]);
}

int main(int argc, char **argv)
{
	uint32_t flows = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 1000000;
	uint32_t rounds = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 20000;
	double ns[2][BLOCKS] = { { 0 } };

	if (flows == 0 || rounds < BLOCKS) {
		fprintf(stderr, "usage: ab_core [flows [rounds]] (flows > 0, rounds >= %d)\n", BLOCKS);
		return 2;
	}
	random_sides = getenv("RANDOM_SIDES") != NULL;
	for (uint32_t k = 0; k < STRETCH_PACKETS; k++)
		packet_ptrs[k] = &packets[k];
	create_tables(flows);
	for (uint32_t r = 0; r < rounds; r++) {
		/* A then B, then B then A: neither always follows the other. */
		int first = r & 1;
		uint32_t block = (uint32_t)((uint64_t)r * BLOCKS / rounds);
		uint64_t now_ms = 2000 + r / 50;

		fill_stretch(flows);
		ns[first][block] += (double)track_stretch(&builds[first], now_ms);
		fill_stretch(flows);
		ns[!first][block] += (double)track_stretch(&builds[!first], now_ms);
	}
	report(flows, rounds, ns);
	for (int k = 0; k < 2; k++)
		builds[k].destroy(builds[k].table);
	return 0;
}
