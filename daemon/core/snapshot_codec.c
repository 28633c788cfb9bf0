/*
 * snapshot_codec: the snapshot format (see include/core/hs_snapshot.h and
 * README.md, "Snapshot file format").
 *
 * A file is the magic, a version number, then blocks.  A block is a type,
 * a payload length, the payload and a 64-bit check value: SipHash-1-3 of
 * the type, length and payload, keyed by the previous block's check value
 * and the block's number.  Chaining the checks makes a dropped, repeated
 * or reordered block as visible as a flipped bit, and blocks let a writer
 * stream a table of millions of flows in pieces and a reader refuse a bad
 * file by its first bad block.  Every integer is little-endian and every
 * field is written one by one: the format does not depend on the
 * compiler's layout of struct hs_flow.
 *
 * Reading checks the whole file before anything is delivered, so a
 * damaged snapshot is refused whole: no table is ever half loaded.
 */
#include "hs_snapshot.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_siphash.h"

enum block_type {
	BLOCK_HEADER = 1,
	BLOCK_SECTION,
	BLOCK_FLOWS,
	BLOCK_MEMORY,
	BLOCK_END,
};

#define BLOCK_HEAD 8u               /* type and length */
#define BLOCK_CHECK 8u
#define PREAMBLE 12u                /* magic and version */
#define HEADER_BYTES 44u
#define SECTION_BYTES 36u
#define END_BYTES 28u
#define BLOCK_CAP (4u + HS_SNAP_FLOWS_PER_BLOCK * HS_SNAP_FLOW_BYTES)
#define MEMORY_PER_BLOCK ((BLOCK_CAP - 4u) / HS_SNAP_MEMORY_BYTES)

/* The flow bits a snapshot carries; the timer's own are the table's business. */
#define SAVED_FLOW_FLAGS (HS_FLOW_IN_USE | HS_FLOW_CLIENT_IS_0 | HS_FLOW_ESTABLISHED | HS_FLOW_PICKED_UP | \
			  HS_FLOW_POLICY_DONE | HS_FLOW_BLOCKED)
#define MAX_WSCALE 14u              /* RFC 7323 */

/* ---- little-endian fields ---- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

uint64_t hs_snap_block_check(uint64_t previous, uint64_t index, const uint8_t *block, size_t len)
{
	uint8_t key[16];

	put64(key, previous);
	put64(key + 8, index);
	return hs_siphash(key, block, len);
}

/* ---- writing ---- */

bool hs_snap_writer_init(struct hs_snap_writer *w, hs_snap_emit_fn emit, void *ctx)
{
	memset(w, 0, sizeof(*w));
	w->emit = emit;
	w->ctx = ctx;
	w->block = malloc(BLOCK_HEAD + BLOCK_CAP + BLOCK_CHECK);
	return w->block != NULL;
}

void hs_snap_writer_free(struct hs_snap_writer *w)
{
	free(w->block);
	w->block = NULL;
}

static void emit(struct hs_snap_writer *w, const void *bytes, size_t len)
{
	if (!w->failed && !w->emit(w->ctx, bytes, len))
		w->failed = true;
}

/* Seals the open block: its length, the record count of a list, the check value. */
static void close_block(struct hs_snap_writer *w)
{
	if (w->type == 0)
		return;
	if (w->type == BLOCK_FLOWS || w->type == BLOCK_MEMORY)
		put32(w->block + BLOCK_HEAD, w->count);
	put32(w->block + 4, (uint32_t)(w->len - BLOCK_HEAD));
	put64(w->block + w->len, hs_snap_block_check(w->chain, w->blocks, w->block, w->len));
	w->chain = get64(w->block + w->len);
	w->blocks++;
	emit(w, w->block, w->len + BLOCK_CHECK);
	w->type = 0;
}

static uint8_t *open_block(struct hs_snap_writer *w, uint32_t type, size_t payload)
{
	close_block(w);
	w->type = type;
	w->count = 0;
	put32(w->block, type);
	w->len = BLOCK_HEAD + payload;
	memset(w->block + BLOCK_HEAD, 0, payload);
	return w->block + BLOCK_HEAD;
}

/* Room for one more record in a list block of that type, opening a new one if needed. */
static uint8_t *list_slot(struct hs_snap_writer *w, uint32_t type, size_t record)
{
	if (w->type != type || w->len + record > BLOCK_HEAD + BLOCK_CAP)
		open_block(w, type, 4);
	uint8_t *p = w->block + w->len;
	w->len += record;
	w->count++;
	return p;
}

void hs_snap_write_header(struct hs_snap_writer *w, const struct hs_snap_header *h)
{
	uint8_t pre[PREAMBLE];

	memcpy(pre, HS_SNAP_MAGIC, 8);
	put32(pre + 8, HS_SNAP_VERSION);
	emit(w, pre, sizeof(pre));
	uint8_t *p = open_block(w, BLOCK_HEADER, HEADER_BYTES);
	put64(p, h->saved_wall_ms);
	memcpy(p + 8, h->machine, 16);
	memcpy(p + 24, h->boot, 16);
	put32(p + 40, h->sections);
	close_block(w);
}

void hs_snap_write_section(struct hs_snap_writer *w, const struct hs_snap_section *s)
{
	uint8_t *p = open_block(w, BLOCK_SECTION, SECTION_BYTES);

	put16(p, s->queue);
	put32(p + 4, s->next_id);
	put32(p + 8, s->id_step);
	memcpy(p + 12, s->engine_key, 16);
	put64(p + 28, s->rates_fingerprint);
	close_block(w);
	w->sections++;
}

static uint32_t ticks_of(uint64_t ms)
{
	uint64_t t = ms / HS_TABLE_TICK_MS;

	return t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
}

/*
 * A side's flags as a file holds them: the record's, but for the common
 * path's marks (the history the file holds has every 'A' written, and a
 * restored 'D' brings back HS_EP_SEEN_DATA, mark_history_seen), and with
 * the side's HS_SENT_WSCALE and HS_LOCAL marks where its flags kept them
 * when the format was made.
 */
#define SNAP_EP_WSCALE 0x01
#define SNAP_EP_LOCAL  0x80

static uint8_t wire_ep_flags(const struct hs_flow *f, enum hs_side side)
{
	uint8_t ep = f->ep_flags[side] & (uint8_t)~(HS_EP_SEEN_ACK | HS_EP_SEEN_DATA);

	if (f->bytes_hi_marks[side] & HS_SENT_WSCALE)
		ep |= SNAP_EP_WSCALE;
	if (f->bytes_hi_marks[side] & HS_LOCAL)
		ep |= SNAP_EP_LOCAL;
	return ep;
}

static void encode_flow(uint8_t *p, const struct hs_flow *f, const struct hs_flow_ages *ages)
{
	struct hs_flow_key key;

	hs_flow_key_get(f, &key);
	p[0] = hs_flow_family(f);
	p[1] = (uint8_t)(f->flags & SAVED_FLOW_FLAGS);
	p[2] = f->state[0];
	p[3] = f->state[1];
	p[4] = hs_flow_wscale(f, HS_CLIENT);
	p[5] = hs_flow_wscale(f, HS_SERVER);
	for (int s = 0; s < 2; s++)
		p[6 + s] = wire_ep_flags(f, (enum hs_side)s);
	/* The history as it stands, with any 'A' the common path noted (hs_flow_history_due). */
	uint64_t h = hs_flow_history_due(f);
	for (int i = 0; i < 6; i++)
		p[8 + i] = (uint8_t)(h >> (8 * i));
	memcpy(p + 14, key.addr[0].bytes, 16);
	memcpy(p + 30, key.addr[1].bytes, 16);
	put16(p + 46, key.port[0]);
	put16(p + 48, key.port[1]);
	for (int s = 0; s < 2; s++) {
		put32(p + 50 + 12 * s, f->window[s].end);
		put32(p + 54 + 12 * s, f->window[s].maxend);
		put32(p + 58 + 12 * s, f->window[s].maxwin);
	}
	put32(p + 74, f->id);
	put32(p + 78, f->packets[0]);
	put32(p + 82, f->packets[1]);
	put64(p + 86, hs_flow_bytes(f, HS_CLIENT));
	put64(p + 94, hs_flow_bytes(f, HS_SERVER));
	put32(p + 102, ages->age_ticks);
	put32(p + 106, ages->idle_ticks);
	put32(p + 110, ages->state_ticks);
}

void hs_snap_write_flow(struct hs_snap_writer *w, const struct hs_table *t, const struct hs_flow *f,
			uint64_t now_ms)
{
	struct hs_flow_ages ages = {
		.age_ticks = ticks_of(hs_flow_age_ms(t, f, now_ms)),
		.idle_ticks = ticks_of(hs_flow_idle_ms(t, f, now_ms)),
		.state_ticks = ticks_of(hs_flow_state_age_ms(t, f, now_ms)),
	};

	encode_flow(list_slot(w, BLOCK_FLOWS, HS_SNAP_FLOW_BYTES), f, &ages);
	w->flows++;
}

void hs_snap_write_flow_aged(struct hs_snap_writer *w, const struct hs_flow *f, const struct hs_flow_ages *ages)
{
	encode_flow(list_slot(w, BLOCK_FLOWS, HS_SNAP_FLOW_BYTES), f, ages);
	w->flows++;
}

void hs_snap_write_memory(struct hs_snap_writer *w, const struct hs_engine_memory_entry *e)
{
	uint8_t *p = list_slot(w, BLOCK_MEMORY, HS_SNAP_MEMORY_BYTES);

	p[0] = e->kind;
	put64(p + 1, e->key);
	put64(p + 9, e->age_ms);
	put64(p + 17, e->tokens_milli);
	w->memory++;
}

bool hs_snap_writer_finish(struct hs_snap_writer *w)
{
	uint8_t *p = open_block(w, BLOCK_END, END_BYTES);

	put32(p, w->sections);
	put64(p + 4, w->flows);
	put64(p + 12, w->memory);
	put64(p + 20, w->blocks + 1);
	close_block(w);
	return !w->failed;
}

/* ---- reading ---- */

struct reader {
	const uint8_t *data;
	size_t len;
	char *why;
	size_t whylen;
};

static int refuse(struct reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int refuse(struct reader *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (r->whylen)
		vsnprintf(r->why, r->whylen, fmt, ap);
	va_end(ap);
	return -1;
}

static bool history_valid(const uint8_t *history)
{
	bool ended = false;

	for (unsigned i = 0; i < HS_HISTORY_MAX; i++) {
		unsigned code = (history[i / 2] >> ((i % 2) * 4)) & 0xf;

		if (code == 0)
			ended = true;
		else if (ended || (code & 7) == 0)
			return false;
	}
	return true;
}

/*
 * The common path's mark (HS_EP_SEEN_DATA) that a restored history
 * implies: a side whose 'D' it holds, or any side if it is full, needs no
 * more 'D' recorded.  Its 'A's are all written (the file holds the history
 * as it stands), so none is due.
 */
static void mark_history_seen(struct hs_flow *f)
{
	uint64_t h = hs_flow_history_bits(f);
	bool full = (h >> (4 * (HS_HISTORY_MAX - 1))) != 0;

	for (int s = 0; s < 2; s++)
		if (full || hs_history_has(h, (enum hs_side)s, HS_HIST_DATA))
			f->ep_flags[s] |= HS_EP_SEEN_DATA;
}

/* A flow record as saved, into f6 (the record, and an IPv6 flow's addresses after it). */
static const char *decode_flow(const uint8_t *p, struct hs_flow_v6 *f6, struct hs_flow_ages *ages)
{
	struct hs_flow *f = &f6->flow;
	struct hs_flow_key key;
	uint8_t family = p[0];

	memset(f6, 0, sizeof(*f6));
	memset(&key, 0, sizeof(key));
	f->flags = p[1];
	memcpy(f->state, p + 2, 2);
	for (int s = 0; s < 2; s++) {
		f->ep_flags[s] = p[6 + s] & (uint8_t)~(SNAP_EP_WSCALE | SNAP_EP_LOCAL);
		if (p[6 + s] & SNAP_EP_WSCALE)
			f->bytes_hi_marks[s] |= HS_SENT_WSCALE;
		if (p[6 + s] & SNAP_EP_LOCAL)
			f->bytes_hi_marks[s] |= HS_LOCAL;
	}
	memcpy(f->history, p + 8, 6);
	memcpy(key.addr[0].bytes, p + 14, 16);
	memcpy(key.addr[1].bytes, p + 30, 16);
	key.port[0] = get16(p + 46);
	key.port[1] = get16(p + 48);
	for (int s = 0; s < 2; s++) {
		f->window[s].end = get32(p + 50 + 12 * s);
		f->window[s].maxend = get32(p + 54 + 12 * s);
		f->window[s].maxwin = get32(p + 58 + 12 * s);
	}
	f->id = get32(p + 74);
	f->packets[0] = get32(p + 78);
	f->packets[1] = get32(p + 82);
	/* A record counts 46 bits of bytes each way (HS_FLOW_BYTES_MAX); the file has room for 64. */
	hs_flow_set_bytes(f, HS_CLIENT, get64(p + 86));
	hs_flow_set_bytes(f, HS_SERVER, get64(p + 94));
	ages->age_ticks = get32(p + 102);
	ages->idle_ticks = get32(p + 106);
	ages->state_ticks = get32(p + 110);

	if (family != HS_FAMILY_IPV4 && family != HS_FAMILY_IPV6)
		return "unknown address family";
	if (family == HS_FAMILY_IPV4) {
		static const uint8_t zero[12];
		if (memcmp(key.addr[0].bytes + 4, zero, 12) || memcmp(key.addr[1].bytes + 4, zero, 12))
			return "IPv4 address with bytes beyond the fourth";
	}
	int cmp = memcmp(key.addr[0].bytes, key.addr[1].bytes, 16);
	if (cmp > 0 || (cmp == 0 && key.port[0] > key.port[1]))
		return "endpoints out of the key's order";
	hs_flow_key_set(f6, &key, family);
	if ((f->flags & ~SAVED_FLOW_FLAGS) || !(f->flags & HS_FLOW_IN_USE))
		return "unknown flow flags";
	if (f->state[0] >= HS_TCP_STATE_COUNT || f->state[1] >= HS_TCP_STATE_COUNT)
		return "unknown TCP state";
	if (p[4] > MAX_WSCALE || p[5] > MAX_WSCALE)
		return "window scale above 14";
	hs_flow_set_wscale(f, HS_CLIENT, p[4]);
	hs_flow_set_wscale(f, HS_SERVER, p[5]);
	if (!history_valid(f->history))
		return "malformed history";
	mark_history_seen(f);
	if (f->id == 0)
		return "flow id 0";
	if (ages->idle_ticks > ages->age_ticks || ages->state_ticks > ages->age_ticks)
		return "idle or state time longer than the flow's age";
	return NULL;
}

static const char *decode_memory(const uint8_t *p, struct hs_engine_memory_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->kind = p[0];
	e->key = get64(p + 1);
	e->age_ms = get64(p + 9);
	e->tokens_milli = get64(p + 17);
	if (e->kind < HS_MEMORY_PENDING || e->kind > HS_MEMORY_BUCKET)
		return "unknown engine memory kind";
	if (e->key == 0)
		return "engine memory entry with key 0";
	if (e->kind != HS_MEMORY_BUCKET && e->tokens_milli != 0)
		return "tokens on a verify memory entry";
	return NULL;
}

static void decode_section(const uint8_t *p, struct hs_snap_section *s)
{
	memset(s, 0, sizeof(*s));
	s->queue = get16(p);
	s->next_id = get32(p + 4);
	s->id_step = get32(p + 8);
	memcpy(s->engine_key, p + 12, 16);
	s->rates_fingerprint = get64(p + 28);
}

/*
 * Tuples already seen in the current section: an open-addressing set of
 * record offsets, compared by the key bytes they point at.
 */
struct tuple_set {
	uint64_t *slots;            /* offset + 1 of a flow record; 0 = empty */
	size_t mask;
};

static bool tuple_set_init(struct tuple_set *set, uint64_t flows)
{
	size_t n = 16;

	while (n < 2 * flows)
		n <<= 1;
	set->mask = n - 1;
	set->slots = calloc(n, sizeof(*set->slots));
	return set->slots != NULL;
}

/* Adds the record at offset; false if the section already holds its tuple. */
static bool tuple_set_add(struct tuple_set *set, const uint8_t *data, size_t offset)
{
	static const uint8_t zero_key[16];
	/* Family, addresses and ports: bytes 0 and 14..49 of a record. */
	const uint8_t *rec = data + offset;
	uint8_t tuple[37];

	tuple[0] = rec[0];
	memcpy(tuple + 1, rec + 14, 36);
	for (size_t i = hs_siphash(zero_key, tuple, sizeof(tuple)) & set->mask;; i = (i + 1) & set->mask) {
		if (set->slots[i] == 0) {
			set->slots[i] = offset + 1;
			return true;
		}
		const uint8_t *other = data + set->slots[i] - 1;
		if (other[0] == rec[0] && memcmp(other + 14, rec + 14, 36) == 0)
			return false;
	}
}

/* One pass over the blocks: what a pass checks and delivers. */
struct pass {
	int stage;                  /* 0: structure and records, 1: tuples, 2: deliver */
	struct hs_snap_header header;
	struct hs_snap_totals totals;
	struct hs_snap_section section;
	struct tuple_set tuples;
	const struct hs_snap_visitor *visitor;
	void *ctx;
};

static int read_list(struct reader *r, struct pass *ps, uint32_t type, const uint8_t *p, uint32_t len,
		     uint64_t index)
{
	size_t rec = type == BLOCK_FLOWS ? HS_SNAP_FLOW_BYTES : HS_SNAP_MEMORY_BYTES;

	if (ps->totals.sections == 0)
		return refuse(r, "block %" PRIu64 ": a list before any queue's section", index);
	if (len < 4 || (len - 4) % rec != 0 || get32(p) != (len - 4) / rec)
		return refuse(r, "block %" PRIu64 ": list length and count disagree", index);
	/* Delivering to nobody: the records were checked, only their number matters. */
	if (ps->stage == 2 && !(type == BLOCK_FLOWS ? ps->visitor->flow != NULL : ps->visitor->memory != NULL)) {
		*(type == BLOCK_FLOWS ? &ps->totals.flows : &ps->totals.memory) += get32(p);
		return 0;
	}
	for (uint32_t i = 0, n = get32(p); i < n; i++) {
		const uint8_t *q = p + 4 + (size_t)i * rec;
		const char *bad;

		if (type == BLOCK_FLOWS && ps->stage == 1) {
			/* The records passed the first pass: the tuple pass only looks at their keys. */
			if (!tuple_set_add(&ps->tuples, r->data, (size_t)(q - r->data)))
				return refuse(r, "block %" PRIu64 ", flow %u: the same connection twice in queue %u",
					      index, i, ps->section.queue);
			ps->totals.flows++;
		} else if (type == BLOCK_FLOWS) {
			struct hs_flow_v6 f;
			struct hs_flow_ages ages;

			if ((bad = decode_flow(q, &f, &ages)))
				return refuse(r, "block %" PRIu64 ", flow %u: %s", index, i, bad);
			if (ps->stage == 2 && ps->visitor->flow)
				ps->visitor->flow(ps->ctx, &ps->section, &f.flow, &ages);
			ps->totals.flows++;
		} else {
			struct hs_engine_memory_entry e;

			if ((bad = decode_memory(q, &e)))
				return refuse(r, "block %" PRIu64 ", entry %u: %s", index, i, bad);
			if (ps->stage == 2 && ps->visitor->memory)
				ps->visitor->memory(ps->ctx, &ps->section, &e);
			ps->totals.memory++;
		}
	}
	return 0;
}

static int read_block(struct reader *r, struct pass *ps, uint32_t type, const uint8_t *p, uint32_t len,
		      uint64_t index, bool *ended)
{
	static const uint32_t fixed[] = { [BLOCK_HEADER] = HEADER_BYTES, [BLOCK_SECTION] = SECTION_BYTES,
					  [BLOCK_END] = END_BYTES };

	if (type < BLOCK_HEADER || type > BLOCK_END)
		return refuse(r, "block %" PRIu64 ": unknown type %u", index, type);
	if ((index == 0) != (type == BLOCK_HEADER))
		return refuse(r, "block %" PRIu64 ": the header must come first, and once", index);
	if (fixed[type] && len != fixed[type])
		return refuse(r, "block %" PRIu64 ": %u bytes, expected %u", index, len, fixed[type]);
	switch (type) {
	case BLOCK_HEADER:
		ps->header.saved_wall_ms = get64(p);
		memcpy(ps->header.machine, p + 8, 16);
		memcpy(ps->header.boot, p + 24, 16);
		ps->header.sections = get32(p + 40);
		return 0;
	case BLOCK_SECTION:
		decode_section(p, &ps->section);
		ps->totals.sections++;
		if (ps->stage == 1)
			memset(ps->tuples.slots, 0, (ps->tuples.mask + 1) * sizeof(*ps->tuples.slots));
		if (ps->stage == 2 && ps->visitor->section)
			ps->visitor->section(ps->ctx, &ps->section);
		return 0;
	case BLOCK_FLOWS:
	case BLOCK_MEMORY:
		return read_list(r, ps, type, p, len, index);
	default:
		if (get32(p) != ps->totals.sections || ps->totals.sections != ps->header.sections ||
		    get64(p + 4) != ps->totals.flows || get64(p + 12) != ps->totals.memory || get64(p + 20) != index + 1)
			return refuse(r, "end block: the totals disagree with the blocks before it");
		*ended = true;
		return 0;
	}
}

static int read_pass(struct reader *r, struct pass *ps)
{
	uint64_t chain = 0, index = 0;
	size_t off = PREAMBLE;
	bool ended = false;

	memset(&ps->totals, 0, sizeof(ps->totals));
	while (!ended) {
		if (r->len - off < BLOCK_HEAD + BLOCK_CHECK)
			return refuse(r, "truncated: %zu bytes, the file ends inside block %" PRIu64, r->len, index);
		uint32_t type = get32(r->data + off), len = get32(r->data + off + 4);
		if (len > HS_SNAP_BLOCK_MAX)
			return refuse(r, "block %" PRIu64 " at offset %zu: length %u is too large", index, off, len);
		if (r->len - off - BLOCK_HEAD - BLOCK_CHECK < len)
			return refuse(r, "truncated: %zu bytes, the file ends inside block %" PRIu64, r->len, index);
		uint64_t check = get64(r->data + off + BLOCK_HEAD + len);
		/*
		 * The bytes are the caller's and cannot change between passes:
		 * the check values, once verified by the first pass, are not
		 * computed again (a third of the time a large file takes).
		 */
		if (ps->stage == 0 && check != hs_snap_block_check(chain, index, r->data + off, BLOCK_HEAD + len))
			return refuse(r, "checksum mismatch in block %" PRIu64 " at offset %zu", index, off);
		if (read_block(r, ps, type, r->data + off + BLOCK_HEAD, len, index, &ended) < 0)
			return -1;
		chain = check;
		index++;
		off += BLOCK_HEAD + len + BLOCK_CHECK;
	}
	if (off != r->len)
		return refuse(r, "%zu bytes after the end block", r->len - off);
	return 0;
}

int hs_snap_read(const uint8_t *data, size_t len, struct hs_snap_header *header, struct hs_snap_totals *totals,
		 const struct hs_snap_visitor *visitor, void *ctx, char *why, size_t whylen)
{
	static const struct hs_snap_visitor none;
	struct reader r = { data, len, why, whylen };
	struct pass ps;

	memset(&ps, 0, sizeof(ps));
	ps.visitor = visitor ? visitor : &none;
	ps.ctx = ctx;
	if (len < PREAMBLE || memcmp(data, HS_SNAP_MAGIC, 8) != 0)
		return refuse(&r, "not a handshaked snapshot (no magic)");
	if (get32(data + 8) != HS_SNAP_VERSION)
		return refuse(&r, "format version %u; this daemon reads version %u", get32(data + 8), HS_SNAP_VERSION);
	/* Structure, checksums and every record first; then tuples, sized by the count; then delivery. */
	if (read_pass(&r, &ps) < 0)
		return -1;
	if (!tuple_set_init(&ps.tuples, ps.totals.flows))
		return refuse(&r, "out of memory checking %" PRIu64 " flows", ps.totals.flows);
	ps.stage = 1;
	int rc = read_pass(&r, &ps);
	free(ps.tuples.slots);
	if (rc < 0)
		return -1;
	*header = ps.header;
	*totals = ps.totals;
	ps.stage = 2;
	return read_pass(&r, &ps);
}

int hs_snap_deliver(const uint8_t *data, size_t len, const struct hs_snap_visitor *visitor, void *ctx)
{
	static const struct hs_snap_visitor none;
	struct reader r = { data, len, NULL, 0 };
	struct pass ps;

	memset(&ps, 0, sizeof(ps));
	ps.visitor = visitor ? visitor : &none;
	ps.ctx = ctx;
	ps.stage = 2;
	if (len < PREAMBLE || memcmp(data, HS_SNAP_MAGIC, 8) != 0 || get32(data + 8) != HS_SNAP_VERSION)
		return -1;
	return read_pass(&r, &ps);
}
