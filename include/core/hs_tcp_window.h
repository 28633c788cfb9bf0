/*
 * hs_tcp_window: the sequence and window checks of the TCP state machine
 * (tcp_state.c owns the machine; hs_tcp_state.h is its interface), and the
 * common packet they judge alone.  They are here, inline, so that the
 * flow table can judge the most frequent packet, an ACK between two
 * ESTABLISHED endpoints, in its own per-packet code, without a call into
 * another file, and with the very code the state machine runs for it:
 * there is one copy of the checks, not a fast one and a slow one.
 */
#ifndef HS_TCP_WINDOW_H
#define HS_TCP_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

/* hs_flow.h brings the state machine's types (hs_tcp_state.h) with the record's. */
#include "hs_flow.h"
#include "hs_packet.h"

/* Linux conntrack's floor for the acceptable ACK window (MAXACKWINCONST). */
#define HS_TCP_MIN_ACK_WINDOW 66000u
/* No SYN carries more data than one IP packet holds (65535 bytes less headers). */
#define HS_TCP_MAX_SYN_DATA 65535u

/* Sequence number comparisons modulo 2^32 (RFC 1982 serial arithmetic). */
static inline bool hs_seq_before(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static inline bool hs_seq_after(uint32_t a, uint32_t b)
{
	return (int32_t)(b - a) < 0;
}

/*
 * Whether the peer has yet to acknowledge a side's SYN: the side's SYN is
 * out and nothing from the peer acknowledged it (the peer is LISTEN, or is
 * itself still SYN_SENT, or the side is SYN_RCVD, which every acceptable
 * acknowledgement ends).  Then window[side].maxend - 1 is its ISS.
 */
static inline bool hs_tcp_syn_unacked(const struct hs_flow *flow, enum hs_side side)
{
	uint8_t st = flow->state[side], peer = flow->state[!side];

	if (!(flow->ep_flags[side] & HS_EP_SYN))
		return false;
	return st == HS_TCP_SYN_RCVD || peer == HS_TCP_SYN_SENT ||
	       (st == HS_TCP_SYN_SENT && peer == HS_TCP_LISTEN);
}

/*
 * The range [*lo, *hi] in which a side's ISS lies.  Exact while its SYN is
 * unacknowledged (see hs_tcp_syn_unacked).  Later, and only while the side
 * has sent nothing but SYNs (a client still SYN_SENT after the SYN-ACK), it is
 * end - 1 less the SYN's data, whose length we did not keep: exact for a
 * SYN without data, within one IP packet's worth for one with data.
 */
static inline void hs_tcp_syn_iss_range(const struct hs_flow *flow, enum hs_side side, uint32_t *lo, uint32_t *hi)
{
	const struct hs_endpoint_window *w = &flow->window[side];

	if (hs_tcp_syn_unacked(flow, side)) {
		*lo = *hi = w->maxend - 1;
		return;
	}
	*hi = w->end - 1;
	*lo = (flow->ep_flags[side] & HS_EP_SYN_DATA) ? *hi - HS_TCP_MAX_SYN_DATA : *hi;
}

/* RFC 9293 3.10.7.3: an acceptable ACK of a side's SYN, ISS < ack =< SND.NXT. */
static inline bool hs_tcp_acks_syn(const struct hs_flow *flow, enum hs_side side, uint32_t ack)
{
	uint32_t lo, hi;

	hs_tcp_syn_iss_range(flow, side, &lo, &hi);
	return hs_seq_after(ack, lo) && !hs_seq_after(ack, flow->window[side].end);
}

/*
 * The four window checks.  On success the sender's and receiver's windows
 * are updated; on failure nothing is written and the reason is returned.
 *
 * Every ACK-bearing packet runs them (hs_tcp_update, and the table's
 * common case through hs_tcp_update_common), which inline this body: as a
 * call it cost some 5% of a packet's tracking in argument passing and
 * saved registers.  The rare callers in tcp_state.c (SYN-ACKs, resync)
 * share one out-of-line copy, check_window.  What the caller knows
 * spares tests: flags are the packet's flags (a constant where the caller
 * knows them, as pkt->flags they are read again after every store, which
 * may alias them), and syns_acked says both endpoints' SYNs are
 * acknowledged (both are ESTABLISHED), so hs_tcp_syn_unacked need not be
 * asked.  liberal is the sender's HS_EP_LIBERAL (picked up mid-stream:
 * loose checks), a constant where the caller has tested it.
 */
static inline __attribute__((always_inline)) enum hs_invalid_reason
hs_tcp_window_checks_as(struct hs_flow *flow, enum hs_side sender, const struct hs_packet *pkt, uint8_t flags,
			bool syns_acked, bool liberal)
{
	enum hs_side receiver = (enum hs_side)!sender;
	struct hs_endpoint_window *s = &flow->window[sender], *r = &flow->window[receiver];
	uint32_t seq = pkt->seq, ack = pkt->ack;
	/* segment_end, from flags: */
	uint32_t end = seq + pkt->payload_len + ((flags & HS_TCP_SYN) != 0) + ((flags & HS_TCP_FIN) != 0);
	/* Without an ACK (or with the zero ACK some stacks put in RSTs) there is nothing to check. */
	if (!(flags & HS_TCP_ACK) || ((flags & HS_TCP_RST) && ack == 0))
		ack = r->end;

	/*
	 * Until the receiver acknowledges the sender's SYN it has granted no
	 * window of its own, yet the sender may already send: a Fast Open
	 * server writes in SYN-RCVD (RFC 7413 4.2.2) and a SYN-ACK may carry
	 * data.  Its limit then is the window the receiver's SYN offered
	 * (never scaled, RFC 7323 2.2), counted from the end of the SYN.
	 */
	uint32_t limit = s->maxend;

	if (!syns_acked && hs_tcp_syn_unacked(flow, sender))
		limit += r->maxwin;

	if (!liberal) {
		uint32_t ack_window = s->maxwin > HS_TCP_MIN_ACK_WINDOW ? s->maxwin : HS_TCP_MIN_ACK_WINDOW;

		if (!hs_seq_before(seq, limit + 1))
			return HS_INVALID_SEQ_ABOVE_WINDOW;
		if (!hs_seq_after(end, s->end - r->maxwin - 1))
			return HS_INVALID_SEQ_BELOW_WINDOW;
		if (!hs_seq_before(ack, r->end + 1))
			return HS_INVALID_ACK_ABOVE;
		if (!hs_seq_after(ack, r->end - ack_window - 1))
			return HS_INVALID_ACK_BELOW;
		/* RFC 9293 3.10.7.4: in SYN-RECEIVED an ACK must acknowledge the SYN. */
		if ((flags & HS_TCP_ACK) && !syns_acked && hs_tcp_syn_unacked(flow, receiver) &&
		    !hs_tcp_acks_syn(flow, receiver, ack))
			return HS_INVALID_ACK_BELOW;
	}

	/*
	 * The window the packet offers, scaled unless on a SYN: read only
	 * now, so that it holds no register during the checks (measured: 5
	 * instructions a packet fewer, saved registers spilled no more).
	 */
	uint32_t win = pkt->window;

	if (!(flags & HS_TCP_SYN))
		win <<= hs_flow_wscale(flow, sender);
	if (s->maxwin < win)
		s->maxwin = win;
	if (hs_seq_after(end, s->end))
		s->end = end;
	if (liberal && hs_seq_after(ack, r->end) && r->maxwin == 0)
		r->end = ack;   /* the receiver has not spoken yet: follow what is acked */
	if (liberal && hs_seq_after(end, s->maxend))
		s->maxend = end;
	if (flags & HS_TCP_ACK) {
		/* The compare of two values at hand first: a segment rarely ends past the limit. */
		if (hs_seq_after(end, limit) && r->maxwin != 0)
			r->maxwin += end - limit;
		if (hs_seq_after(ack + win, r->maxend - 1)) {
			r->maxend = ack + win;
			if (win == 0)
				r->maxend++;
		}
	}
	return HS_INVALID_NONE;
}

/* The window checks, loose for a sender picked up mid-stream (HS_EP_LIBERAL). */
static inline __attribute__((always_inline)) enum hs_invalid_reason
hs_tcp_window_checks(struct hs_flow *flow, enum hs_side sender, const struct hs_packet *pkt, uint8_t flags, bool syns_acked)
{
	return hs_tcp_window_checks_as(flow, sender, pkt, flags, syns_acked,
				       (flow->ep_flags[sender] & HS_EP_LIBERAL) != 0);
}

/*
 * hs_tcp_update without its shortcut for the common packet
 * (hs_tcp_update_common): every packet judged by the general code.  The
 * shortcut must agree with it on every packet, which is what the tests
 * hold it to (tests/unit/test_common_path.c); the packet path calls
 * hs_tcp_update.
 */
void hs_tcp_update_full(struct hs_flow *flow, enum hs_side sender, const struct hs_packet *pkt,
			struct hs_tcp_update *update);

/*
 * The common packet: an ACK (perhaps with data, without SYN, FIN or RST)
 * between two ESTABLISHED endpoints.  No SYN is then unacknowledged and
 * no state can change (an acknowledgement moves neither endpoint and there
 * is no FIN), so only the window checks judge it.  If it passes them, its
 * effects are written (the windows; the sender is no longer ahead) and
 * true is returned: everything hs_tcp_update would do with it, with no
 * state change, nothing invalid, no restart and no resync; and note, the
 * caller's marks, is set in the sender's flags with the same store (the
 * table's HS_EP_SEEN_ACK; 0 from hs_tcp_update).  Otherwise
 * nothing is written and false is returned, and hs_tcp_update must judge
 * the packet (it checks again: these checks wrote nothing).
 */
static inline __attribute__((always_inline)) bool
hs_tcp_update_common(struct hs_flow *flow, enum hs_side sender, const struct hs_packet *pkt, uint8_t note)
{
	if ((pkt->flags & (HS_TCP_SYN | HS_TCP_RST | HS_TCP_FIN | HS_TCP_ACK)) != HS_TCP_ACK ||
	    flow->state[HS_CLIENT] != HS_TCP_ESTABLISHED || flow->state[HS_SERVER] != HS_TCP_ESTABLISHED)
		return false;
	/*
	 * Two copies of the checks, each with liberal a constant: with it a
	 * variable they kept it in a register and tested it three times,
	 * and nearly every flow's, the strict copy, ran out of registers
	 * (measured on the batch path: 12 instructions a packet fewer; the
	 * loose copy out of line instead saved 7).
	 */
	enum hs_invalid_reason invalid = (flow->ep_flags[sender] & HS_EP_LIBERAL)
		? hs_tcp_window_checks_as(flow, sender, pkt, HS_TCP_ACK, true, true)
		: hs_tcp_window_checks_as(flow, sender, pkt, HS_TCP_ACK, true, false);
	if (invalid != HS_INVALID_NONE)
		return false;
	/*
	 * The sender's flags are read again here, not kept from the test of
	 * HS_EP_LIBERAL above: kept, GCC 12 spilled them to the stack for
	 * the checks and loaded them back (the empty asm says the byte may
	 * have changed, so that the clear is one instruction on memory;
	 * measured on the batch path: 7 instructions a packet fewer).
	 */
	__asm__("" : "+m"(flow->ep_flags[sender]));
	flow->ep_flags[sender] = (uint8_t)((flow->ep_flags[sender] & ~(HS_EP_AHEAD_SEQ | HS_EP_AHEAD_ACK)) | note);
	return true;
}

#endif
