/*
 * track_input.h: the byte format fuzz_track decodes, shared with the seed
 * generator (gen_seeds.c) so that both agree on it.
 *
 * An input is a header followed by records until the bytes run out; a
 * record cut short reads zeros for its missing bytes, so every input is
 * valid and no mutation is wasted on a framing error.
 *
 * Header:
 *   h0  bit 0      pickup
 *       bits 1-2   timeout profile (TI_PROFILE_*); CUSTOM reads 8 more bytes
 *       bit 3      attach a policy set (else the engine runs with none)
 *       bits 4-6   which policy set (fuzz_track.c, policy_yaml[])
 *       bit 7      lazy timer: packets' clock steps do not expire flows, only
 *                  clock and expire records do, as with a stalled worker
 *   h1  bits 0-2   max_flows - 1 (1..8)
 *       bit 3      batch mode: packets are queued and tracked in bursts
 *                  with hs_table_track_batch, as the worker does
 *       bit 4      strict mode (the worker skips the engine for invalid packets)
 *       bits 5-7   table creation time, in steps of TI_EPOCH_STEP_MS
 *
 * Records start with an op byte whose low three bits are the kind:
 *   0-3 TI_KIND_PACKET   a packet built from fields (below)
 *   4   TI_KIND_RAW      a packet given as bytes, through hs_packet_parse
 *   5   TI_KIND_CLOCK    a larger clock step, one byte (ti_clock_unit_ms);
 *                        then hs_table_expire unless op bit 3 is set
 *   6   TI_KIND_DELETE   `handshakectl kill` of the flow in slot (op >> 3)
 *   7   TI_KIND_ADMIN    reload (op bits 3-4 pick what, TI_ADMIN_*)
 *
 * Packet record: op, then
 *   b1  bits 0-2 tuple (TI_TUPLES), bit 3 direction (1 = from the tuple's
 *       second endpoint), bits 4-7 flags (ti_flag_table; 15 = one raw byte follows)
 *   b2  bits 0-1 seq mode, 2-3 ack mode, 4-5 window mode, 6-7 payload mode
 *       (TI_NUM_*), each mode reading its extra bytes in that order
 *   b3  bit 0 window scale option (one byte follows: the shift), bit 1
 *       SACK permitted, bit 2 timestamps, bit 3 MSS, bits 4-7 clock step
 *       before the packet (ti_step_ms)
 *   op bit 3 set: in batch mode, flush the queued burst after this packet
 *
 * Sequence and acknowledgement numbers are relative to what the table
 * tracks for the flow (the sender's and receiver's window end), or to a
 * fixed per-tuple initial sequence number while that side has not spoken,
 * so that short inputs already make valid, in-window conversations.
 *
 * Raw record: op, a length byte L, L packet bytes, then a remap byte: bit 0
 * rewrites the addresses and ports to tuple (bits 1-3) in direction (bit
 * 4), so raw packets can join the tracked conversations; bits 5-6 choose
 * the wire length (0: none, 1: caplen + a 16-bit value that follows).
 */
#ifndef TESTS_FUZZ_TRACK_INPUT_H
#define TESTS_FUZZ_TRACK_INPUT_H

#include <stdint.h>

#include "hs_packet.h"

#define TI_PICKUP        0x01
#define TI_PROFILE_SHIFT 1
#define TI_PROFILE_MASK  0x06
#define TI_POLICIES      0x08
#define TI_SET_SHIFT     4
#define TI_SET_MASK      0x70
#define TI_LAZY_TIMER    0x80

#define TI_FLOWS_MASK    0x07
#define TI_BATCH         0x08
#define TI_STRICT        0x10
#define TI_EPOCH_SHIFT   5

/* Creation times far apart, so that tick arithmetic sees large offsets too. */
#define TI_EPOCH_STEP_MS 0x3b9aca07ull

enum ti_profile {
	TI_PROFILE_DEFAULT = 0,     /* conntrack's defaults: minutes to 5 days */
	TI_PROFILE_SHORT,           /* seconds: expiry within a short input */
	TI_PROFILE_TINY,            /* below one tick to a few ticks */
	TI_PROFILE_CUSTOM,          /* one byte per class, from ti_custom_timeout_ms */
};

enum ti_kind {
	TI_KIND_PACKET = 0,         /* 0 .. 3 */
	TI_KIND_RAW = 4,
	TI_KIND_CLOCK = 5,
	TI_KIND_DELETE = 6,
	TI_KIND_ADMIN = 7,
};

enum ti_admin {
	TI_ADMIN_RELOAD = 0,        /* new timeouts (next byte: profile) and the same policies, as SIGHUP */
	TI_ADMIN_POLICIES = 1,      /* same timeouts, the policy set of the next byte */
	TI_ADMIN_EXPIRE = 2,        /* hs_table_expire at the current time */
	TI_ADMIN_QUERY = 3,         /* the control socket's read-only queries */
};

enum ti_num_mode {
	TI_NUM_TRACKED = 0,         /* exactly the tracked value (window: 65535, payload: 0) */
	TI_NUM_SMALL = 1,           /* tracked + a signed byte (window: byte << 8, payload: a byte) */
	TI_NUM_WIDE = 2,            /* tracked + a signed 16-bit value times 64 (window, payload: 16 bits) */
	TI_NUM_RAW = 3,             /* a raw 32-bit value (window: 0, payload: 32 bits) */
};

#define TI_OPT_WSCALE 0x01
#define TI_OPT_SACK   0x02
#define TI_OPT_TS     0x04
#define TI_OPT_MSS    0x08

#define TI_FLUSH      0x08      /* in the op byte of a packet record */
#define TI_DIR        0x08      /* in b1 */
#define TI_RAW_FLAGS  15

#define TI_TUPLES 8

/* Flag combinations a conversation uses, and a few it must not. */
static const uint8_t ti_flag_table[15] = {
	HS_TCP_SYN,
	HS_TCP_SYN | HS_TCP_ACK,
	HS_TCP_ACK,
	HS_TCP_PSH | HS_TCP_ACK,
	HS_TCP_FIN | HS_TCP_ACK,
	HS_TCP_RST,
	HS_TCP_RST | HS_TCP_ACK,
	HS_TCP_FIN | HS_TCP_PSH | HS_TCP_ACK,
	HS_TCP_SYN | HS_TCP_ECE | HS_TCP_CWR,
	HS_TCP_SYN | HS_TCP_ACK | HS_TCP_ECE,
	HS_TCP_ACK | HS_TCP_URG,
	HS_TCP_FIN,                     /* invalid: no ACK */
	HS_TCP_SYN | HS_TCP_FIN,        /* invalid */
	0,                              /* invalid: no flags */
	HS_TCP_SYN | HS_TCP_RST,        /* invalid */
};

/* Index in ti_flag_table of the common flags, for the seed generator. */
enum ti_flag_index {
	TI_F_SYN = 0, TI_F_SYNACK, TI_F_ACK, TI_F_PSHACK, TI_F_FINACK, TI_F_RST, TI_F_RSTACK,
	TI_F_FINPSHACK,
};

/* Clock step before a packet, in milliseconds. */
static const uint32_t ti_step_ms[16] = {
	0, 0, 0, 0, 1, 5, 10, 50, 100, 200, 500, 1000, 3000, 10000, 60000, 600000,
};

/* Timeouts (ms) a custom profile picks from: below a tick, wheel edges, 20 days. */
static const uint32_t ti_custom_timeout_ms[16] = {
	1, 10, 100, 999, 1000, 5000, 30000, 60000, 120000, 409600, 410000, 600000,
	3600000, 86400000, 432000000, 1728000000,
};

/*
 * A clock record's step: (m + 1) * ti_clock_unit_ms[e] for the byte b after
 * the op byte, with e = b >> 4 and m = b & 15: from 1 ms up to 32 days.
 */
static const uint64_t ti_clock_unit_ms[16] = {
	1, 10, 100, 1000, 10000, 60000, 409600, 600000, 3600000, 21600000, 43200000, 86400000,
	86400000, 172800000, 172800000, 172800000,
};

#endif
