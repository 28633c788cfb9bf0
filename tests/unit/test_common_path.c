/*
 * test_common_path: the shortcut for the most frequent packet, an ACK
 * (perhaps with data) between two ESTABLISHED endpoints that passes the
 * window checks, must judge exactly as the general code does.  The
 * shortcut is taken twice: inside hs_tcp_update (hs_tcp_update_common,
 * include/core/hs_tcp_window.h) and in the table's per-packet code, which
 * runs it inline and then counts, records the history and fills the
 * result itself (track_keyed in daemon/core/table.c).  Both are held to
 * the general code on random input:
 *
 * - hs_tcp_update leaves a flow, byte for byte, and its outcome exactly as
 *   hs_tcp_update_full (no shortcut) does, on random flows (any pair of
 *   states, liberal or not, window scales, ahead and gap marks) and packets
 *   drawn around the edges of the four checks (any flags, mostly ACKs).
 * - hs_table_track leaves each record and gives each result exactly as a
 *   model built from hs_tcp_update_full does (the packet counted, its
 *   history letter, or on the common path its noted 'A', the time it was
 *   seen; or, for an invalid packet, the letter I and no time), for
 *   connections of both families that open, carry data, close, restart
 *   and are picked up mid-stream, some blocked
 *   by a policy, some restored from a snapshot (blocked or not, with the
 *   marks of the gap).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hs_flow.h"
#include "hs_table.h"
#include "hs_tcp_window.h"
#include "scenario.h"
#include "test_random.h"

#define TCP_ROUNDS 400000u
#define TABLE_ROUNDS 200000u
#define CONNS 48

static struct test_random rng = { 0x9e3779b97f4a7c15ull };

/* 0 .. n - 1 */
static uint32_t below(uint32_t n)
{
	return (uint32_t)((test_random_next(&rng) >> 32) % n);
}

static bool one_in(uint32_t n)
{
	return below(n) == 0;
}

/* A value near x: on it, a step either side of it, or up to `spread` away. */
static uint32_t near(uint32_t x, uint32_t spread)
{
	switch (below(4)) {
	case 0:
		return x;
	case 1:
		return x + 1;
	case 2:
		return x - 1;
	default:
		return x - spread + below(2 * spread + 1);
	}
}

/* Flags: mostly an ACK with harmless bits, sometimes anything at all. */
static uint8_t random_flags(void)
{
	static const uint8_t harmless[] = { 0, HS_TCP_PSH, HS_TCP_URG, HS_TCP_ECE, HS_TCP_CWR, HS_TCP_PSH | HS_TCP_ECE };

	if (below(10) < 8)
		return (uint8_t)(HS_TCP_ACK | harmless[below(sizeof(harmless))]);
	return (uint8_t)below(256);
}

static uint32_t random_payload(void)
{
	switch (below(8)) {
	case 0: case 1: case 2: case 3:
		return 0;
	case 7:
		return below(70000);
	default:
		return 1 + below(1500);
	}
}

/*
 * A sequence or acknowledgement number for a check with edges high and
 * low: near either, anywhere, or a little below last (the last data),
 * where valid packets lie.
 */
static uint32_t near_edges(uint32_t high, uint32_t low, uint32_t last)
{
	switch (below(5)) {
	case 0:
		return near(high, 3);
	case 1:
		return near(low, 3);
	case 2:
		return (uint32_t)test_random_next(&rng);
	default:
		return last - below(3000);
	}
}

/*
 * A packet from sender against the flow's windows: sequence numbers near
 * where each check's edge lies (above the receiver's window, below the
 * sender's, acknowledging more than was sent or too little), or near the
 * last data, where valid packets lie; with `likely`, an ACK near the last
 * data, which most of the time is valid.
 */
static void packet_near_edges(const struct hs_flow *f, enum hs_side sender, bool likely, struct hs_packet *pkt)
{
	const struct hs_endpoint_window *s = &f->window[sender], *r = &f->window[!sender];
	uint32_t ack_window = s->maxwin > HS_TCP_MIN_ACK_WINDOW ? s->maxwin : HS_TCP_MIN_ACK_WINDOW;

	pkt->flags = random_flags();
	pkt->payload_len = random_payload();
	pkt->seq = near_edges(s->maxend, s->end - r->maxwin - pkt->payload_len, s->end);
	pkt->ack = near_edges(r->end, r->end - ack_window, r->end);
	pkt->window = one_in(10) ? 0 : (uint16_t)test_random_next(&rng);
	pkt->wscale = one_in(4) ? (uint8_t)below(16) : HS_WSCALE_NONE;
	if (likely) {
		pkt->flags = (uint8_t)(HS_TCP_ACK | (one_in(2) ? HS_TCP_PSH : 0));
		pkt->seq = s->end - below(2000);
		pkt->ack = r->end - below(2000);
		pkt->window = (uint16_t)(1000 + below(64536));
	}
}

/* A flow as the state machine may hold one: mostly both ESTABLISHED, any marks, any windows. */
static void random_flow(struct hs_flow *f)
{
	static const uint8_t marks[] = { HS_EP_SEEN_DATA, HS_EP_SYN_DATA, HS_EP_SYN, HS_EP_FIN, HS_EP_LIBERAL,
					 HS_EP_AHEAD_SEQ, HS_EP_AHEAD_ACK, HS_EP_SEEN_ACK };

	memset(f, 0, sizeof(*f));
	f->flags = HS_FLOW_IN_USE | HS_FLOW_ESTABLISHED;
	for (int side = 0; side < 2; side++) {
		f->state[side] = below(10) < 7 ? HS_TCP_ESTABLISHED : (uint8_t)below(HS_TCP_STATE_COUNT);
		for (size_t m = 0; m < sizeof(marks); m++)
			if (one_in(marks[m] == HS_EP_SYN ? 2 : 6))
				f->ep_flags[side] |= marks[m];
		f->window[side].end = (uint32_t)test_random_next(&rng);
		f->window[side].maxend = f->window[side].end + below(1u << 18);
		f->window[side].maxwin = one_in(10) ? 0 : 1 + below(1u << 20);
	}
	f->wscales = one_in(2) ? 0 : (uint8_t)test_random_next(&rng);
	/* Each endpoint's data was acknowledged up to somewhere near what it sent. */
	for (int side = 0; side < 2; side++)
		if (one_in(2))
			f->window[side].maxend = f->window[!side].end + f->window[side].maxwin;
}

static void expect_same_update(const struct hs_tcp_update *got, const struct hs_tcp_update *want, uint32_t round)
{
	if (got->invalid != want->invalid || got->restart != want->restart || got->resynced != want->resynced)
		fail_msg("round %u: shortcut says invalid %s restart %d resynced %d, the general code %s %d %d", round,
			 hs_invalid_reason_name(got->invalid), got->restart, got->resynced,
			 hs_invalid_reason_name(want->invalid), want->restart, want->resynced);
}

static void test_tcp_update_equals_full(void **state)
{
	(void)state;
	uint32_t common = 0, declined = 0, invalid = 0;

	for (uint32_t round = 0; round < TCP_ROUNDS; round++) {
		struct hs_flow start, fast, full, probe;
		struct hs_packet pkt;
		struct hs_tcp_update got, want;
		enum hs_side sender = (enum hs_side)below(2);

		random_flow(&start);
		memset(&pkt, 0, sizeof(pkt));
		pkt.family = HS_FAMILY_IPV4;
		packet_near_edges(&start, sender, false, &pkt);

		fast = full = probe = start;
		hs_tcp_update(&fast, sender, &pkt, &got);
		hs_tcp_update_full(&full, sender, &pkt, &want);
		expect_same_update(&got, &want, round);
		if (memcmp(&fast, &full, sizeof(fast)) != 0)
			fail_msg("round %u: the flow after the shortcut differs from the general code's", round);

		/* The shortcut alone: when it takes a packet it did all the general code does. */
		if (hs_tcp_update_common(&probe, sender, &pkt, 0)) {
			common++;
			assert_int_equal(want.invalid, HS_INVALID_NONE);
			assert_false(want.restart || want.resynced);
			if (memcmp(&probe, &full, sizeof(probe)) != 0)
				fail_msg("round %u: the shortcut took the packet but left the flow unlike the general code",
					 round);
		} else {
			declined++;
			if (memcmp(&probe, &start, sizeof(probe)) != 0)
				fail_msg("round %u: the shortcut declined the packet but wrote to the flow", round);
		}
		invalid += want.invalid != HS_INVALID_NONE;
	}
	/* Both ways, and refusals, must have been exercised in earnest. */
	assert_true(common > TCP_ROUNDS / 10);
	assert_true(declined > TCP_ROUNDS / 10);
	assert_true(invalid > TCP_ROUNDS / 10);
}

/* ---- the table's inline shortcut ---- */

struct rig {
	struct hs_table *table;
	struct sc_conn conn[CONNS];
	uint64_t now;
	uint32_t common, blocked, invalid, changed, restarted, created;
};

static enum hs_history_event history_event(const struct hs_packet *pkt)
{
	if (pkt->flags & HS_TCP_RST)
		return HS_HIST_RST;
	if (pkt->flags & HS_TCP_SYN)
		return (pkt->flags & HS_TCP_ACK) ? HS_HIST_SYNACK : HS_HIST_SYN;
	if (pkt->flags & HS_TCP_FIN)
		return HS_HIST_FIN;
	return pkt->payload_len ? HS_HIST_DATA : HS_HIST_ACK;
}

/* What the table does with a packet's flow besides the state machine: its counters and history. */
static void model_record(struct hs_flow *f, enum hs_side side, const struct hs_packet *pkt, bool invalid)
{
	hs_flow_count(f, side, pkt->wire_len);
	if (invalid) {
		hs_flow_history_add(f, side, HS_HIST_INVALID);
		return;
	}
	if ((pkt->flags & (HS_TCP_FIN | HS_TCP_SYN | HS_TCP_RST)) == HS_TCP_FIN && pkt->payload_len)
		hs_flow_history_add(f, side, HS_HIST_DATA);
	hs_flow_history_add(f, side, history_event(pkt));
}

static void expect_result(const struct hs_track_result *got, const struct hs_track_result *want, uint32_t round)
{
	if (got->flow != want->flow || got->sender != want->sender || got->events != want->events ||
	    got->invalid != want->invalid || got->hint != want->hint ||
	    memcmp(got->old_state, want->old_state, sizeof(got->old_state)) != 0 ||
	    memcmp(got->new_state, want->new_state, sizeof(got->new_state)) != 0)
		fail_msg("round %u: result sender %d events %#x invalid %s hint %d states %s/%s -> %s/%s; the model's "
			 "sender %d events %#x invalid %s hint %d states %s/%s -> %s/%s",
			 round, got->sender, got->events, hs_invalid_reason_name(got->invalid), got->hint,
			 hs_tcp_state_name(got->old_state[0]), hs_tcp_state_name(got->old_state[1]),
			 hs_tcp_state_name(got->new_state[0]), hs_tcp_state_name(got->new_state[1]), want->sender,
			 want->events, hs_invalid_reason_name(want->invalid), want->hint,
			 hs_tcp_state_name(want->old_state[0]), hs_tcp_state_name(want->old_state[1]),
			 hs_tcp_state_name(want->new_state[0]), hs_tcp_state_name(want->new_state[1]));
}

/*
 * Puts the connection's flow back as a snapshot would: both ESTABLISHED,
 * windows where the connection's next sequence numbers are, blocked by a
 * policy or not.  A blocked flow whose endpoints are ESTABLISHED is what
 * the shortcut must not take for an ordinary one.
 */
static void restore(struct rig *r, struct sc_conn *c, bool blocked)
{
	struct hs_flow_v6 image;
	struct hs_flow_key key;
	struct hs_flow_ages ages = { 100, 10, 100 };
	struct hs_packet pkt;
	bool src_is_0;

	memset(&image, 0, sizeof(image));
	sc_conn_key(c, &key);
	hs_flow_key_set(&image, &key, c->family);
	sc_conn_packet(c, HS_CLIENT, HS_TCP_ACK, 0, &pkt);
	hs_flow_key_from_packet(&pkt, &key, &src_is_0);
	image.flow.flags = (uint8_t)(HS_FLOW_IN_USE | HS_FLOW_ESTABLISHED | (src_is_0 ? HS_FLOW_CLIENT_IS_0 : 0) |
				     (blocked ? HS_FLOW_BLOCKED : 0));
	image.flow.id = 1;
	for (int side = 0; side < 2; side++) {
		image.flow.state[side] = HS_TCP_ESTABLISHED;
		image.flow.ep_flags[side] = HS_EP_SYN;
		image.flow.window[side].end = c->next[side];
		image.flow.window[side].maxend = c->next[!side] + 65535;
		image.flow.window[side].maxwin = 65535;
	}
	assert_int_equal(hs_table_restore_flow(r->table, &image.flow, &ages, r->now, false), HS_RESTORE_OK);
}

/* The packet of a round: against the flow's windows if there is one, else one that may start or pick up a flow. */
static void round_packet(const struct sc_conn *c, const struct hs_flow *f, enum hs_side from, struct hs_packet *pkt)
{
	sc_conn_packet(c, from, HS_TCP_ACK, 0, pkt);
	if (f) {
		struct hs_flow_key key;
		bool src_is_0;

		hs_flow_key_from_packet(pkt, &key, &src_is_0);
		packet_near_edges(f, hs_flow_sender(f, src_is_0), below(10) < 6, pkt);
	} else if (one_in(3)) {
		pkt->flags = HS_TCP_SYN;
		pkt->ack = 0;
		pkt->wscale = (uint8_t)below(15);
		pkt->payload_len = one_in(8) ? below(1000) : 0;
	} else {
		pkt->flags = random_flags();
		pkt->seq = (uint32_t)test_random_next(&rng);
		pkt->ack = (uint32_t)test_random_next(&rng);
		pkt->payload_len = random_payload();
	}
	pkt->wire_len = pkt->payload_len + (c->family == HS_FAMILY_IPV4 ? SC_HEADERS_V4 : SC_HEADERS_V6);
}

/* How closely the model foretells a packet's effect on the table. */
enum foretold {
	EXACTLY,                    /* the record and the result */
	STATES,                     /* states changed: the table also refiles the flow's timers, which the model leaves be */
	RESTART,                    /* a new connection on the tuple, which the table starts afresh */
};

/* The model of one packet on an existing flow, from the record before it: the record after it (in *model) and the result. */
static enum foretold model_packet(struct rig *r, struct hs_flow_v6 *model, const struct hs_packet *pkt, bool src_is_0,
			 struct hs_track_result *want)
{
	struct hs_flow *m = &model->flow;
	enum hs_side sender = hs_flow_sender(m, src_is_0);
	uint32_t tick = hs_table_tick(r->table, r->now);
	struct hs_tcp_update up;

	memset(want, 0, sizeof(*want));
	want->sender = sender;
	memcpy(want->old_state, m->state, sizeof(want->old_state));
	if ((m->flags & HS_FLOW_BLOCKED) && (pkt->flags & (HS_TCP_SYN | HS_TCP_ACK | HS_TCP_RST)) != HS_TCP_SYN) {
		hs_flow_count(m, sender, pkt->wire_len);
		m->last_seen = tick;
		memcpy(want->new_state, m->state, sizeof(want->new_state));
		want->hint = HS_HINT_BLOCKED;
		r->blocked++;
		return EXACTLY;
	}
	struct hs_flow probe = *m;
	bool common = !(m->flags & HS_FLOW_BLOCKED) && hs_tcp_update_common(&probe, sender, pkt, 0);

	hs_tcp_update_full(m, sender, pkt, &up);
	memcpy(want->new_state, m->state, sizeof(want->new_state));
	if (up.restart)
		return RESTART;
	if (memcmp(want->old_state, want->new_state, sizeof(want->old_state)) != 0) {
		r->changed++;
		return STATES;
	}
	if (up.invalid != HS_INVALID_NONE) {
		model_record(m, sender, pkt, true);
		want->invalid = up.invalid;
		want->hint = HS_HINT_INVALID;
		r->invalid++;
		return EXACTLY;
	}
	/*
	 * What the table's common path does instead of record(): a pure
	 * ACK notes its 'A' (hs_flow_history_due), and data of a side whose
	 * 'D' is recorded changes no history; a side's first data is
	 * recorded as any other packet is.
	 */
	if (common && (pkt->payload_len == 0 || (m->ep_flags[sender] & HS_EP_SEEN_DATA))) {
		hs_flow_count(m, sender, pkt->wire_len);
		if (pkt->payload_len == 0)
			m->ep_flags[sender] |= HS_EP_SEEN_ACK;
	} else {
		model_record(m, sender, pkt, false);
	}
	m->last_seen = tick;
	r->common += common;
	return EXACTLY;
}

static void table_round(struct rig *r, uint32_t round)
{
	struct sc_conn *c = &r->conn[below(CONNS)];
	struct hs_flow *f = sc_conn_lookup(r->table, c);
	struct hs_packet pkt;
	struct hs_track_result got, want;
	struct hs_flow_key key;
	bool src_is_0;

	r->now += below(3000);
	if (!f && one_in(20)) {
		restore(r, c, one_in(2));
		return;
	}
	if (!f && one_in(3)) {
		sc_open(r->table, c, r->now);
		return;
	}
	if (f && one_in(500)) {
		hs_table_block(r->table, f, r->now);
		return;
	}
	/* A connection that is not (or no longer) ESTABLISHED both ways is started again now and then. */
	if (f && (f->state[HS_CLIENT] != HS_TCP_ESTABLISHED || f->state[HS_SERVER] != HS_TCP_ESTABLISHED) &&
	    one_in(20)) {
		hs_table_delete(r->table, f);
		return;
	}
	round_packet(c, f, (enum hs_side)below(2), &pkt);
	if (!f) {
		hs_table_track(r->table, &pkt, r->now, &got);
		r->created += got.flow != NULL;
		return;
	}

	struct hs_flow_v6 model, after;
	uint64_t packets = hs_table_stats(r->table)->packets;

	hs_flow_copy(&model, f);
	hs_flow_key_from_packet(&pkt, &key, &src_is_0);
	enum foretold foretold = model_packet(r, &model, &pkt, src_is_0, &want);
	want.flow = f;
	hs_table_track(r->table, &pkt, r->now, &got);
	assert_int_equal(hs_table_stats(r->table)->packets, packets + 1);
	if (foretold == RESTART) {
		assert_ptr_equal(got.flow, f);
		assert_true(got.events & HS_EVENT_RESTART);
		r->restarted++;
		return;
	}
	if (foretold == STATES) {
		assert_ptr_equal(got.flow, f);
		assert_true(got.events & HS_EVENT_STATE);
		assert_memory_equal(got.new_state, want.new_state, sizeof(want.new_state));
		assert_memory_equal(f->state, want.new_state, sizeof(want.new_state));
		return;
	}
	expect_result(&got, &want, round);
	hs_flow_copy(&after, f);
	if (memcmp(&after, &model, sizeof(after)) != 0)
		fail_msg("round %u: the record differs from the model's (%s flow, %s, hint %d)", round,
			 c->family == HS_FAMILY_IPV4 ? "IPv4" : "IPv6",
			 hs_invalid_reason_name(want.invalid), want.hint);
}

static void test_table_track_equals_model(void **state)
{
	(void)state;
	struct rig r;

	memset(&r, 0, sizeof(r));
	r.now = 1000000;
	/* Room for every connection: no flow leaves by eviction while the model holds its copy. */
	r.table = sc_table(4 * CONNS, true, r.now);
	for (uint32_t i = 0; i < CONNS; i++)
		sc_conn_init(&r.conn[i], (i % 3) ? HS_FAMILY_IPV4 : HS_FAMILY_IPV6, 0x0a0000u + i, (uint16_t)(40000 + i),
			     0x0b0000u + i % 5, (uint16_t)(i % 4 ? 443 : 50000));
	for (uint32_t i = 0; i < CONNS; i += 2)
		sc_open(r.table, &r.conn[i], r.now);
	for (uint32_t round = 0; round < TABLE_ROUNDS; round++)
		table_round(&r, round);
	sc_table_free(r.table);
	/* Every kind of packet the shortcut must tell apart, many times over. */
	assert_true(r.common > TABLE_ROUNDS / 10);
	assert_true(r.invalid > TABLE_ROUNDS / 20);
	assert_true(r.blocked > 100);
	assert_true(r.changed > 100);
	assert_true(r.restarted > 10);
	assert_true(r.created > 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp_update_equals_full),
		cmocka_unit_test_teardown(test_table_track_equals_model, sc_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
