/*
 * hs_snapshot: the snapshot file format, encoded and decoded.  It owns
 * the byte layout of a saved flow table (every worker's flows with their
 * states, windows, flags, history, counters and ages, and each policy
 * engine's verify memory and rate buckets), its version and its
 * checksums, and the checks that refuse a damaged file as a whole.  It is
 * part of the pure core: bytes go out through a caller's function and
 * come in as a buffer; writing, reading, fsync and renaming are the state
 * store's (daemon/state_store.c).  The layout is documented in README.md,
 * "Snapshot file format".
 */
#ifndef HS_SNAPSHOT_H
#define HS_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs_flow.h"
#include "hs_policy_engine.h"
#include "hs_table.h"

#define HS_SNAP_MAGIC "HSKSNAP\n"       /* 8 bytes, then the version */
#define HS_SNAP_VERSION 1u
#define HS_SNAP_FLOW_BYTES 114u         /* one flow record */
#define HS_SNAP_MEMORY_BYTES 25u        /* one engine memory entry */
#define HS_SNAP_BLOCK_MAX (1u << 20)    /* the largest payload a reader accepts */
#define HS_SNAP_FLOWS_PER_BLOCK 4096u

/* What the file says about where and when it was written. */
struct hs_snap_header {
	uint64_t saved_wall_ms;     /* CLOCK_REALTIME, milliseconds since 1970 */
	uint8_t machine[16];        /* /etc/machine-id: a snapshot never moves to another host */
	uint8_t boot[16];           /* the kernel's boot id: local sockets die with a reboot */
	uint32_t sections;          /* one per queue */
};

/* One queue's part: its worker's table and policy engine. */
struct hs_snap_section {
	uint16_t queue;
	uint32_t next_id;           /* the table's next flow id, so ids are not given twice */
	/*
	 * The number of workers then: ids are unique only within one set.  0
	 * marks the section of the flows no worker had claimed yet (restored
	 * from a snapshot of another set of queues): its queue means nothing.
	 */
	uint32_t id_step;
	uint8_t engine_key[16];     /* the key the engine memory's entries are hashed under */
	uint64_t rates_fingerprint; /* hs_policy_engine_rates_fingerprint when saved */
};

/* ---- writing ---- */

/* Where encoded bytes go; false stops the writer (the error stays with the caller). */
typedef bool (*hs_snap_emit_fn)(void *ctx, const void *bytes, size_t len);

struct hs_snap_writer {
	hs_snap_emit_fn emit;
	void *ctx;
	uint8_t *block;             /* the block being filled: type, length, payload */
	size_t len;
	uint32_t type;              /* of the open block; 0 = none */
	uint32_t count;             /* records in the open block */
	uint64_t chain;             /* the previous block's check value */
	uint64_t blocks;
	uint32_t sections;
	uint64_t flows, memory;
	bool failed;
};

/* Allocates the block buffer; false if memory is short. */
bool hs_snap_writer_init(struct hs_snap_writer *w, hs_snap_emit_fn emit, void *ctx);
void hs_snap_writer_free(struct hs_snap_writer *w);
/* The magic, the version and the header block. */
void hs_snap_write_header(struct hs_snap_writer *w, const struct hs_snap_header *h);
/* Starts a queue's section; its flows and memory entries follow. */
void hs_snap_write_section(struct hs_snap_writer *w, const struct hs_snap_section *s);
/* One flow of the table, its times as ages at now_ms. */
void hs_snap_write_flow(struct hs_snap_writer *w, const struct hs_table *table, const struct hs_flow *flow,
			uint64_t now_ms);
/* One flow held outside any table, with its ages as they are now. */
void hs_snap_write_flow_aged(struct hs_snap_writer *w, const struct hs_flow *flow, const struct hs_flow_ages *ages);
void hs_snap_write_memory(struct hs_snap_writer *w, const struct hs_engine_memory_entry *entry);
/* Closes the last block and writes the end block; false if anything failed. */
bool hs_snap_writer_finish(struct hs_snap_writer *w);

/* ---- reading ---- */

/*
 * Called for each part of a snapshot, in file order, only once the whole
 * file has been checked: a file is delivered whole or not at all.  Any
 * callback may be NULL.
 */
struct hs_snap_visitor {
	void (*section)(void *ctx, const struct hs_snap_section *s);
	void (*flow)(void *ctx, const struct hs_snap_section *s, const struct hs_flow *image,
		     const struct hs_flow_ages *ages);
	void (*memory)(void *ctx, const struct hs_snap_section *s, const struct hs_engine_memory_entry *entry);
};

/* What a snapshot holds, counted while it is checked. */
struct hs_snap_totals {
	uint32_t sections;
	uint64_t flows;
	uint64_t memory;
};

/*
 * Checks data[0..len) completely (magic, version, every block's check
 * value, the order and sizes of blocks, every record's fields, no tuple
 * twice in a section, the end block's totals) and, if all holds, fills
 * *header and *totals and calls the visitor.  Returns 0, or -1 with why
 * the file is refused in why ("checksum mismatch in block 3 at offset
 * 4096", "format version 2; this daemon reads version 1", ...), without
 * having called the visitor.  Never reads outside data[0..len).  The
 * buffer must not change during the call (the check values are verified
 * once, then trusted by the later passes): read the file into memory of
 * the caller's own, not a shared mapping.
 */
int hs_snap_read(const uint8_t *data, size_t len, struct hs_snap_header *header, struct hs_snap_totals *totals,
		 const struct hs_snap_visitor *visitor, void *ctx, char *why, size_t whylen);

/*
 * Delivers a snapshot that hs_snap_read accepted, in the same unchanged
 * buffer, without checking it again: the block checks and the tuple pass
 * are skipped, so a caller that must look at the sections before it
 * decides where the flows go reads twice for little more than the price
 * of once.  Still never reads outside data[0..len); 0, or -1 if the
 * buffer is not a snapshot after all.
 */
int hs_snap_deliver(const uint8_t *data, size_t len, const struct hs_snap_visitor *visitor, void *ctx);

/* The check value of a block: SipHash-1-3 keyed by the previous block's value and the block's number. */
uint64_t hs_snap_block_check(uint64_t previous, uint64_t index, const uint8_t *block, size_t len);

#endif
