/*
 * tcp_state: the per-endpoint TCP state machine and window tracking.
 *
 * A packet that passes between two endpoints tells us what its sender did
 * and what its receiver is about to learn.  From that we infer the state of
 * each endpoint's kernel, using the RFC 9293 names.  By convention the
 * receiver of a SYN stays LISTEN until it answers, and the client becomes
 * ESTABLISHED when its ACK of the SYN-ACK passes (that is when `ss` on the
 * client would show it, give or take a round trip).
 *
 * Sequence tracking follows Guido van Rooij's "Real Stateful TCP Packet
 * Filtering in IP Filter", as Linux conntrack implements it: for each
 * direction we keep the highest sequence number sent (end), the highest the
 * receiver allowed (maxend = its ack + window) and the largest window the
 * sender advertised (maxwin).  A packet must start below maxend, end above
 * end - the receiver's maxwin, and acknowledge nothing unsent and nothing
 * too old.  An invalid packet changes no state.  Those checks are in
 * hs_tcp_window.h, inline, where the flow table also runs them for the
 * most frequent packet without calling in here.
 */
#include "hs_tcp_state.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "hs_flow.h"
#include "hs_packet.h"
#include "hs_tcp_window.h"

/* RFC 7323: the largest window scale shift. */
#define MAX_WSCALE 14

static const char *const state_names[HS_TCP_STATE_COUNT] = {
	[HS_TCP_CLOSED] = "CLOSED",
	[HS_TCP_LISTEN] = "LISTEN",
	[HS_TCP_SYN_SENT] = "SYN_SENT",
	[HS_TCP_SYN_RCVD] = "SYN_RCVD",
	[HS_TCP_ESTABLISHED] = "ESTABLISHED",
	[HS_TCP_FIN_WAIT_1] = "FIN_WAIT_1",
	[HS_TCP_FIN_WAIT_2] = "FIN_WAIT_2",
	[HS_TCP_CLOSING] = "CLOSING",
	[HS_TCP_TIME_WAIT] = "TIME_WAIT",
	[HS_TCP_CLOSE_WAIT] = "CLOSE_WAIT",
	[HS_TCP_LAST_ACK] = "LAST_ACK",
};

static const char *const invalid_names[HS_INVALID_REASON_COUNT] = {
	[HS_INVALID_NONE] = "none",
	[HS_INVALID_BAD_FLAGS] = "bad_flags",
	[HS_INVALID_NO_FLOW] = "no_flow",
	[HS_INVALID_SEQ_ABOVE_WINDOW] = "seq_above_window",
	[HS_INVALID_SEQ_BELOW_WINDOW] = "seq_below_window",
	[HS_INVALID_ACK_ABOVE] = "ack_above_sent",
	[HS_INVALID_ACK_BELOW] = "ack_below_window",
	[HS_INVALID_RST_SEQ] = "rst_out_of_window",
	[HS_INVALID_SYNACK_ACK] = "synack_bad_ack",
	[HS_INVALID_UNEXPECTED_SYN] = "unexpected_syn",
	[HS_INVALID_UNEXPECTED_ACK] = "unexpected_ack",
};

static const char *const timeout_names[HS_TIMEOUT_CLASS_COUNT] = {
	[HS_TIMEOUT_SYN_SENT] = "syn_sent",
	[HS_TIMEOUT_SYN_RCVD] = "syn_rcvd",
	[HS_TIMEOUT_ESTABLISHED] = "established",
	[HS_TIMEOUT_FIN_WAIT] = "fin_wait",
	[HS_TIMEOUT_CLOSE_WAIT] = "close_wait",
	[HS_TIMEOUT_LAST_ACK] = "last_ack",
	[HS_TIMEOUT_TIME_WAIT] = "time_wait",
	[HS_TIMEOUT_CLOSED] = "closed",
};

const char *hs_tcp_state_name(enum hs_tcp_state state)
{
	return (unsigned)state < HS_TCP_STATE_COUNT ? state_names[state] : "UNKNOWN";
}

int hs_tcp_state_parse(const char *name)
{
	char norm[16];
	size_t n = strlen(name);

	if (n == 0 || n >= sizeof(norm))
		return -1;
	for (size_t i = 0; i <= n; i++)
		norm[i] = name[i] == '-' ? '_' : name[i];
	for (int s = 0; s < HS_TCP_STATE_COUNT; s++) {
		if (strcasecmp(norm, state_names[s]) == 0)
			return s;
	}
	return -1;
}

const char *hs_invalid_reason_name(enum hs_invalid_reason reason)
{
	return (unsigned)reason < HS_INVALID_REASON_COUNT ? invalid_names[reason] : "unknown";
}

const char *hs_timeout_class_name(enum hs_timeout_class cls)
{
	return (unsigned)cls < HS_TIMEOUT_CLASS_COUNT ? timeout_names[cls] : "unknown";
}

static bool either(enum hs_tcp_state a, enum hs_tcp_state b, enum hs_tcp_state s)
{
	return a == s || b == s;
}

static bool past_handshake(enum hs_tcp_state s)
{
	return s != HS_TCP_CLOSED && s != HS_TCP_LISTEN && s != HS_TCP_SYN_SENT && s != HS_TCP_SYN_RCVD;
}

bool hs_tcp_handshake_done(enum hs_tcp_state client, enum hs_tcp_state server)
{
	return client == HS_TCP_ESTABLISHED || server == HS_TCP_ESTABLISHED ||
	       (past_handshake(client) && past_handshake(server));
}

enum hs_timeout_class hs_tcp_timeout_class(enum hs_tcp_state client, enum hs_tcp_state server)
{
	/*
	 * The timeout follows the least settled endpoint: a handshake in
	 * progress, then a close in progress, then a half-closed connection.
	 */
	if (either(client, server, HS_TCP_SYN_RCVD))
		return HS_TIMEOUT_SYN_RCVD;
	if (either(client, server, HS_TCP_SYN_SENT))
		return HS_TIMEOUT_SYN_SENT;
	if (either(client, server, HS_TCP_LAST_ACK) || either(client, server, HS_TCP_CLOSING))
		return HS_TIMEOUT_LAST_ACK;
	if (either(client, server, HS_TCP_TIME_WAIT))
		return HS_TIMEOUT_TIME_WAIT;
	if (either(client, server, HS_TCP_FIN_WAIT_1))
		return HS_TIMEOUT_FIN_WAIT;
	if (either(client, server, HS_TCP_FIN_WAIT_2) || either(client, server, HS_TCP_CLOSE_WAIT))
		return HS_TIMEOUT_CLOSE_WAIT;
	if (client == HS_TCP_ESTABLISHED && server == HS_TCP_ESTABLISHED)
		return HS_TIMEOUT_ESTABLISHED;
	return HS_TIMEOUT_CLOSED;
}

static bool flags_valid(uint8_t flags)
{
	bool syn = flags & HS_TCP_SYN, ack = flags & HS_TCP_ACK;
	bool fin = flags & HS_TCP_FIN, rst = flags & HS_TCP_RST;

	if (rst)
		return !syn && !fin;
	if (syn)
		return !fin;
	/* Everything else, FIN included, must carry an ACK (RFC 9293 3.10.7.4). */
	return ack;
}

/* Sequence space a segment occupies: payload plus one for SYN and for FIN. */
static uint32_t segment_end(const struct hs_packet *pkt)
{
	uint32_t end = pkt->seq + pkt->payload_len;

	if (pkt->flags & HS_TCP_SYN)
		end++;
	if (pkt->flags & HS_TCP_FIN)
		end++;
	return end;
}

/*
 * Records what a side's SYN (or SYN-ACK) announced.
 *
 * maxend, the highest sequence number the peer allowed, starts just past
 * the SYN flag: the peer has allowed nothing yet, and data a SYN carries
 * (TCP Fast Open, RFC 7413) was sent without its leave.  So until the
 * peer's first acknowledgement moves it, maxend - 1 is the side's initial
 * sequence number, which is what tells an acceptable acknowledgement of
 * the SYN (RFC 9293 3.10.7: ISS < SEG.ACK =< SND.NXT) from any other.
 */
static void init_from_syn(struct hs_flow *flow, enum hs_side side, const struct hs_packet *pkt)
{
	struct hs_endpoint_window *w = &flow->window[side];

	w->end = segment_end(pkt);
	w->maxend = pkt->seq + 1;
	w->maxwin = pkt->window ? pkt->window : 1;
	flow->ep_flags[side] = (uint8_t)((flow->ep_flags[side] & ~HS_EP_FIN) | HS_EP_SYN);
	flow->bytes_hi_marks[side] &= (uint16_t)~HS_SENT_WSCALE;
	if (pkt->payload_len)
		flow->ep_flags[side] |= HS_EP_SYN_DATA;
	if (pkt->wscale != HS_WSCALE_NONE) {
		flow->bytes_hi_marks[side] |= HS_SENT_WSCALE;
		hs_flow_set_wscale(flow, side, pkt->wscale > MAX_WSCALE ? MAX_WSCALE : pkt->wscale);
	} else {
		hs_flow_set_wscale(flow, side, 0);
	}
}

/*
 * A retransmitted SYN may differ from the first: it may drop the data
 * (Linux resends a Fast Open SYN bare), drop or change options (some
 * stacks retry without them), or offer another window.  We cannot know
 * which of the two the peer answers, so we keep the union, which is the
 * more permissive reading: the data stays sent, and a window scale either
 * carried stays on (the SYN-ACK settles whether scaling is used at all).
 */
static void merge_syn(struct hs_flow *flow, enum hs_side side, const struct hs_packet *pkt)
{
	struct hs_endpoint_window *w = &flow->window[side];
	uint32_t end = segment_end(pkt);

	if (hs_seq_after(end, w->end))
		w->end = end;
	if (pkt->window > w->maxwin)
		w->maxwin = pkt->window;
	if (pkt->payload_len)
		flow->ep_flags[side] |= HS_EP_SYN_DATA;
	if (pkt->wscale != HS_WSCALE_NONE) {
		uint8_t shift = pkt->wscale > MAX_WSCALE ? MAX_WSCALE : pkt->wscale;

		if (!(flow->bytes_hi_marks[side] & HS_SENT_WSCALE) || shift > hs_flow_wscale(flow, side))
			hs_flow_set_wscale(flow, side, shift);
		flow->bytes_hi_marks[side] |= HS_SENT_WSCALE;
	}
}

/* Whether a SYN from a side carries the sequence number of its earlier SYN. */
static bool same_syn(const struct hs_flow *flow, enum hs_side side, const struct hs_packet *pkt)
{
	uint32_t lo, hi;

	hs_tcp_syn_iss_range(flow, side, &lo, &hi);
	return !hs_seq_before(pkt->seq, lo) && !hs_seq_after(pkt->seq, hi);
}

/* RFC 7323: scaling applies in either direction only if both SYNs asked for it. */
static void settle_window_scale(struct hs_flow *flow)
{
	if (!((flow->bytes_hi_marks[HS_CLIENT] & HS_SENT_WSCALE) && (flow->bytes_hi_marks[HS_SERVER] & HS_SENT_WSCALE))) {
		flow->wscales = 0;
	}
}

/* Seeds a picked-up flow's windows from its first packet. */
static void pickup_init(struct hs_flow *flow, enum hs_side sender, const struct hs_packet *pkt)
{
	enum hs_side receiver = (enum hs_side)!sender;
	struct hs_endpoint_window *s = &flow->window[sender], *r = &flow->window[receiver];
	uint32_t win = pkt->window ? pkt->window : 1;

	s->end = segment_end(pkt);
	s->maxwin = win;
	s->maxend = s->end + win;
	/* Until the receiver speaks, its acknowledged point is all we know of it. */
	r->end = pkt->ack;
	r->maxend = pkt->ack;
	r->maxwin = 0;
	flow->ep_flags[sender] = HS_EP_LIBERAL;
	flow->ep_flags[receiver] = HS_EP_LIBERAL;
	flow->state[HS_CLIENT] = HS_TCP_ESTABLISHED;
	flow->state[HS_SERVER] = HS_TCP_ESTABLISHED;
	if (pkt->flags & HS_TCP_FIN) {
		flow->ep_flags[sender] |= HS_EP_FIN;
		flow->state[sender] = HS_TCP_FIN_WAIT_1;
		flow->state[receiver] = HS_TCP_CLOSE_WAIT;
	}
}

bool hs_tcp_start(struct hs_flow *flow, enum hs_side sender, const struct hs_packet *pkt,
		  bool pickup, enum hs_invalid_reason *why)
{
	uint8_t flags = pkt->flags;

	*why = HS_INVALID_NONE;
	if (!flags_valid(flags)) {
		*why = HS_INVALID_BAD_FLAGS;
		return false;
	}
	memset(flow->window, 0, sizeof(flow->window));
	memset(flow->ep_flags, 0, sizeof(flow->ep_flags));
	for (int side = 0; side < 2; side++)
		flow->bytes_hi_marks[side] &= (uint16_t)~HS_SENT_WSCALE;
	flow->wscales = 0;

	if ((flags & (HS_TCP_SYN | HS_TCP_ACK)) == HS_TCP_SYN) {
		init_from_syn(flow, sender, pkt);
		flow->state[sender] = HS_TCP_SYN_SENT;
		flow->state[!sender] = HS_TCP_LISTEN;
		return true;
	}
	/* A RST or a stray SYN-ACK never starts a flow: there is nothing to track. */
	if ((flags & (HS_TCP_RST | HS_TCP_SYN)) || !pickup) {
		*why = HS_INVALID_NO_FLOW;
		return false;
	}
	/*
	 * Picked up mid-stream: the handshake, and with it the window scale,
	 * is lost to us, so both directions are checked liberally from now on,
	 * as Linux conntrack does with its BE_LIBERAL flag.
	 */
	pickup_init(flow, sender, pkt);
	return true;
}

static __attribute__((noinline)) enum hs_invalid_reason check_window(struct hs_flow *flow, enum hs_side sender,
									const struct hs_packet *pkt)
{
	return hs_tcp_window_checks(flow, sender, pkt, pkt->flags, false);
}

/*
 * RFC 9293 3.10.7 and RFC 5961 section 3: a RST is acceptable when its
 * sequence number is the one the receiver expects, or (drawing a challenge
 * ACK from a modern stack) inside its window.  In SYN-SENT a RST is
 * acceptable only if it acknowledges the SYN, and any acceptable
 * acknowledgement will do: a server that refuses a SYN with data
 * acknowledges the SYN alone.
 */
static bool rst_acceptable(const struct hs_flow *flow, enum hs_side sender, const struct hs_packet *pkt)
{
	enum hs_side receiver = (enum hs_side)!sender;
	const struct hs_endpoint_window *s = &flow->window[sender], *r = &flow->window[receiver];

	if (flow->state[receiver] == HS_TCP_SYN_SENT && !(flow->ep_flags[sender] & HS_EP_SYN))
		return (pkt->flags & HS_TCP_ACK) && hs_tcp_acks_syn(flow, receiver, pkt->ack);
	if (flow->ep_flags[sender] & HS_EP_LIBERAL)
		return true;
	if (pkt->seq == s->end)
		return true;
	return hs_seq_before(pkt->seq, s->maxend + 1) && hs_seq_after(pkt->seq, s->end - r->maxwin - 1);
}

/*
 * Packets can pass without us: the queue's fail-open lets them through
 * when the daemon falls behind.  Both sides then send and acknowledge data
 * we never saw, every later packet fails the window checks, and nothing
 * would ever bring the windows back (in strict mode the connection dies).
 *
 * So a packet that is plausibly ahead of what we know (it acknowledges
 * data of the peer's we never saw, or starts a few windows beyond the
 * sender's window) marks its sender as ahead.  A small step (one window of
 * acknowledged data, the sequence in window) catches up at once.  Larger
 * ones need both ends: when the peer's latest packet was ahead too, and at
 * least one of the two acknowledged unseen data, the two ends agree with
 * each other and we are the ones behind: the windows move up to this
 * packet and it is checked again.  A packet that is behind or valid clears
 * the mark.
 */
#define RESYNC_WINDOWS 16u

static uint32_t largest_window(const struct hs_flow *flow)
{
	uint32_t w = HS_TCP_MIN_ACK_WINDOW;

	for (int side = 0; side < 2; side++)
		if (flow->window[side].maxwin > w)
			w = flow->window[side].maxwin;
	return w;
}

static bool resync(struct hs_flow *flow, enum hs_side sender, const struct hs_packet *pkt,
		   enum hs_invalid_reason why)
{
	enum hs_side receiver = (enum hs_side)!sender;
	struct hs_endpoint_window *s = &flow->window[sender], *r = &flow->window[receiver];
	struct hs_endpoint_window saved_s = *s, saved_r = *r;
	const uint8_t ahead_bits = HS_EP_AHEAD_SEQ | HS_EP_AHEAD_ACK;
	/* After a restart the gap has no size we know: anything ahead is plausible, once. */
	bool gap = (flow->ep_flags[sender] & HS_EP_GAP) == HS_EP_GAP ||
		   (flow->ep_flags[receiver] & HS_EP_GAP) == HS_EP_GAP;
	uint32_t end = segment_end(pkt), reach = gap ? 0x7fffffffu : RESYNC_WINDOWS * largest_window(flow);
	uint8_t st = flow->state[sender], rt = flow->state[receiver];
	bool synchronised = st != HS_TCP_SYN_SENT && st != HS_TCP_SYN_RCVD && st != HS_TCP_LISTEN &&
			    st != HS_TCP_CLOSED && rt != HS_TCP_SYN_SENT && rt != HS_TCP_SYN_RCVD &&
			    rt != HS_TCP_LISTEN && rt != HS_TCP_CLOSED;
	uint8_t kind;

	/* Ahead, whichever check failed first: acknowledging unseen data is the stronger sign. */
	bool ack_ahead = hs_seq_after(pkt->ack, r->end) && hs_seq_before(pkt->ack, r->end + reach);
	bool seq_ahead = !hs_seq_before(pkt->seq, s->maxend + 1) && hs_seq_before(pkt->seq, s->maxend + reach);
	bool ack_sane = !hs_seq_after(pkt->ack, r->end) || ack_ahead;
	bool seq_sane = hs_seq_before(pkt->seq, s->maxend + 1) || seq_ahead;

	(void)why;
	if (ack_ahead && seq_sane)
		kind = HS_EP_AHEAD_ACK;
	else if (seq_ahead && ack_sane)
		kind = HS_EP_AHEAD_SEQ;
	else
		kind = 0;
	flow->ep_flags[sender] &= (uint8_t)~ahead_bits;
	if (!kind || !synchronised || !(pkt->flags & HS_TCP_ACK))
		return false;
	/*
	 * A packet whose sequence number is in its window and which only
	 * acknowledges up to one window of the peer's data beyond what we saw
	 * is what a missed packet or two looks like, and guessing an in-window
	 * sequence number is as hard as for an in-window RST: it catches up at
	 * once.  That matters in strict mode, where its drop could otherwise
	 * stall a request/response exchange for good.  Anything further ahead
	 * needs the peer's word as well.
	 */
	uint32_t peer_window = r->maxwin ? r->maxwin : HS_TCP_MIN_ACK_WINDOW;
	bool near = kind == HS_EP_AHEAD_ACK && !seq_ahead && !hs_seq_after(pkt->ack, r->end + peer_window);
	uint8_t peer = flow->ep_flags[receiver] & ahead_bits;
	if (!near && !gap && (!peer || (kind != HS_EP_AHEAD_ACK && !(peer & HS_EP_AHEAD_ACK)))) {
		flow->ep_flags[sender] |= kind;
		return false;
	}
	if (hs_seq_after(end, s->end))
		s->end = end;
	if (hs_seq_after(end, s->maxend))
		s->maxend = end;
	if (hs_seq_after(pkt->ack, r->end))
		r->end = pkt->ack;
	if (hs_seq_after(r->end, r->maxend))
		r->maxend = r->end;
	if (check_window(flow, sender, pkt) != HS_INVALID_NONE) {
		*s = saved_s;
		*r = saved_r;
		flow->ep_flags[sender] |= kind;
		return false;
	}
	flow->ep_flags[receiver] &= (uint8_t)~ahead_bits;
	return true;
}

/* What both endpoints learn from an acceptable acknowledgement. */
static void apply_ack(struct hs_flow *flow, enum hs_side sender, const struct hs_packet *pkt)
{
	enum hs_side receiver = (enum hs_side)!sender;
	uint8_t *st = flow->state;
	const struct hs_endpoint_window *r = &flow->window[receiver];
	bool acks_all = !hs_seq_before(pkt->ack, r->end);

	if (!(pkt->flags & HS_TCP_ACK))
		return;
	/*
	 * The sender answers the SYN-ACK: its handshake is done, and if the
	 * peer's FIN came with or after the SYN-ACK (a Fast Open server may
	 * close before the client's first ACK), it is past that FIN too.
	 */
	if (st[sender] == HS_TCP_SYN_SENT)
		st[sender] = (flow->ep_flags[receiver] & HS_EP_FIN) ? HS_TCP_CLOSE_WAIT : HS_TCP_ESTABLISHED;
	/*
	 * check_window let no ACK pass in SYN-RCVD that does not acknowledge
	 * the SYN: the receiver's handshake is done even if data it sent is
	 * still unacknowledged.
	 */
	if (st[receiver] == HS_TCP_SYN_RCVD) {
		st[receiver] = HS_TCP_ESTABLISHED;
		return;
	}
	if (!acks_all)
		return;
	switch (st[receiver]) {
	case HS_TCP_FIN_WAIT_1:
		if (flow->ep_flags[receiver] & HS_EP_FIN)
			st[receiver] = HS_TCP_FIN_WAIT_2;
		break;
	case HS_TCP_CLOSING:
		st[receiver] = HS_TCP_TIME_WAIT;
		break;
	case HS_TCP_LAST_ACK:
		st[receiver] = HS_TCP_CLOSED;
		break;
	default:
		break;
	}
}

/* The sender's first FIN. */
static void apply_fin(struct hs_flow *flow, enum hs_side sender)
{
	enum hs_side receiver = (enum hs_side)!sender;
	uint8_t *st = flow->state;

	flow->ep_flags[sender] |= HS_EP_FIN;
	switch (st[sender]) {
	case HS_TCP_SYN_RCVD:
	case HS_TCP_ESTABLISHED:
		st[sender] = HS_TCP_FIN_WAIT_1;
		if (st[receiver] == HS_TCP_ESTABLISHED || st[receiver] == HS_TCP_SYN_RCVD)
			st[receiver] = HS_TCP_CLOSE_WAIT;
		break;
	case HS_TCP_CLOSE_WAIT:
		/*
		 * The receiver closed first.  If this FIN also acknowledged the
		 * receiver's FIN (apply_ack already moved it on to FIN_WAIT_2),
		 * it is the normal second FIN: receiver TIME_WAIT, sender
		 * LAST_ACK.  If not, the two FINs crossed: both are CLOSING.
		 */
		if (st[receiver] == HS_TCP_FIN_WAIT_2) {
			st[receiver] = HS_TCP_TIME_WAIT;
			st[sender] = HS_TCP_LAST_ACK;
		} else if (st[receiver] == HS_TCP_FIN_WAIT_1) {
			st[receiver] = HS_TCP_CLOSING;
			st[sender] = HS_TCP_CLOSING;
		} else {
			st[sender] = HS_TCP_LAST_ACK;
		}
		break;
	default:
		/* A FIN from an endpoint already closing adds nothing. */
		break;
	}
}

/* A SYN without ACK on an existing flow. */
static void update_syn(struct hs_flow *flow, enum hs_side sender, const struct hs_packet *pkt,
		       struct hs_tcp_update *update)
{
	enum hs_side receiver = (enum hs_side)!sender;
	uint8_t s = flow->state[sender], r = flow->state[receiver];
	bool sender_done = s == HS_TCP_CLOSED || s == HS_TCP_TIME_WAIT;
	bool receiver_done = r == HS_TCP_CLOSED || r == HS_TCP_TIME_WAIT || r == HS_TCP_LAST_ACK ||
			     r == HS_TCP_LISTEN;

	if (sender_done && receiver_done) {
		/* A new connection on the tuple of a finished one (RFC 9293 3.6.1). */
		update->restart = true;
		return;
	}
	if (s == HS_TCP_SYN_SENT) {
		/* The same ISN is a retransmission; a new one is a fresh attempt. */
		if (same_syn(flow, sender, pkt))
			merge_syn(flow, sender, pkt);
		else
			init_from_syn(flow, sender, pkt);
		return;
	}
	if (s == HS_TCP_LISTEN && r == HS_TCP_SYN_SENT) {
		/*
		 * Simultaneous open: this SYN crossed the peer's.  Each side
		 * receives the other's SYN while in SYN-SENT, so both are
		 * SYN-RECEIVED until their SYN is acknowledged.
		 */
		init_from_syn(flow, sender, pkt);
		settle_window_scale(flow);
		flow->state[sender] = HS_TCP_SYN_RCVD;
		flow->state[receiver] = HS_TCP_SYN_RCVD;
		return;
	}
	if (s == HS_TCP_SYN_RCVD && same_syn(flow, sender, pkt)) {
		merge_syn(flow, sender, pkt);   /* a retransmitted crossing SYN */
		return;
	}
	update->invalid = HS_INVALID_UNEXPECTED_SYN;
}

/*
 * Applies a SYN-ACK that (re)initialises the sender: an invalid one leaves
 * the sender's record as it was.
 */
static void first_synack(struct hs_flow *flow, enum hs_side sender, const struct hs_packet *pkt,
			 struct hs_tcp_update *update)
{
	struct hs_endpoint_window saved_window[2];
	uint8_t saved_flags = flow->ep_flags[sender], saved_wscales;
	uint16_t saved_marks = flow->bytes_hi_marks[sender];

	memcpy(saved_window, flow->window, sizeof(saved_window));
	saved_wscales = flow->wscales;
	init_from_syn(flow, sender, pkt);
	settle_window_scale(flow);
	update->invalid = check_window(flow, sender, pkt);
	if (update->invalid == HS_INVALID_NONE) {
		flow->state[sender] = HS_TCP_SYN_RCVD;
		return;
	}
	memcpy(flow->window, saved_window, sizeof(saved_window));
	flow->wscales = saved_wscales;
	flow->ep_flags[sender] = saved_flags;
	flow->bytes_hi_marks[sender] = saved_marks;
}

/* A SYN-ACK on an existing flow. */
static void update_synack(struct hs_flow *flow, enum hs_side sender, const struct hs_packet *pkt,
			  struct hs_tcp_update *update)
{
	enum hs_side receiver = (enum hs_side)!sender;
	uint8_t s = flow->state[sender], r = flow->state[receiver];

	if (r == HS_TCP_SYN_SENT && (s == HS_TCP_LISTEN || s == HS_TCP_SYN_RCVD || s == HS_TCP_CLOSED)) {
		/*
		 * Any acceptable acknowledgement of the SYN will do: a server
		 * that does not take the SYN's data (no or a bad Fast Open
		 * cookie, no Fast Open at all) acknowledges the SYN alone, and
		 * one may take part of it.  The client sends the rest later.
		 */
		if (!hs_tcp_acks_syn(flow, receiver, pkt->ack)) {
			update->invalid = HS_INVALID_SYNACK_ACK;
			return;
		}
		/* The same ISS again: a retransmitted SYN-ACK, even if data followed it. */
		if (s == HS_TCP_SYN_RCVD && same_syn(flow, sender, pkt))
			return;
		first_synack(flow, sender, pkt, update);
		return;
	}
	if (r == HS_TCP_SYN_RCVD && (s == HS_TCP_SYN_RCVD || s == HS_TCP_ESTABLISHED) &&
	    (flow->ep_flags[sender] & HS_EP_SYN)) {
		/*
		 * Simultaneous open: this SYN-ACK acknowledges the peer's SYN.
		 * The sender may already be ESTABLISHED if the peer's SYN-ACK
		 * passed first.
		 */
		if (!hs_tcp_acks_syn(flow, receiver, pkt->ack)) {
			update->invalid = HS_INVALID_SYNACK_ACK;
			return;
		}
		update->invalid = check_window(flow, sender, pkt);
		if (update->invalid == HS_INVALID_NONE)
			flow->state[receiver] = HS_TCP_ESTABLISHED;
		return;
	}
	if (flow->ep_flags[sender] & HS_EP_SYN && hs_seq_before(pkt->seq, flow->window[sender].end)) {
		/*
		 * An old SYN-ACK again, for instance because the final ACK of
		 * the handshake was lost beyond us: harmless if it fits.
		 */
		struct hs_packet old = *pkt;

		old.flags = (uint8_t)(old.flags & ~HS_TCP_SYN);
		old.seq = pkt->seq + 1;
		old.payload_len = 0;
		update->invalid = check_window(flow, sender, &old);
		return;
	}
	update->invalid = HS_INVALID_UNEXPECTED_SYN;
}

/* Every packet but the common one (see hs_tcp_update), out of line so the common one saves no registers for it. */
static __attribute__((noinline)) void update_general(struct hs_flow *flow, enum hs_side sender,
						     const struct hs_packet *pkt, struct hs_tcp_update *update)
{
	enum hs_side receiver = (enum hs_side)!sender;
	uint8_t flags = pkt->flags;

	if (!flags_valid(flags)) {
		update->invalid = HS_INVALID_BAD_FLAGS;
		return;
	}
	if (flags & HS_TCP_SYN) {
		if (flags & HS_TCP_ACK)
			update_synack(flow, sender, pkt, update);
		else
			update_syn(flow, sender, pkt, update);
		return;
	}
	if (flags & HS_TCP_RST) {
		if (flow->state[HS_CLIENT] == HS_TCP_CLOSED && flow->state[HS_SERVER] == HS_TCP_CLOSED)
			return;   /* more RSTs after the first change nothing */
		if (!rst_acceptable(flow, sender, pkt)) {
			update->invalid = HS_INVALID_RST_SEQ;
			return;
		}
		flow->state[HS_CLIENT] = HS_TCP_CLOSED;
		flow->state[HS_SERVER] = HS_TCP_CLOSED;
		return;
	}

	/* An ACK-bearing segment, perhaps with data and a FIN. */
	uint8_t s = flow->state[sender], r = flow->state[receiver];
	if (s == HS_TCP_CLOSED && r == HS_TCP_CLOSED)
		return;   /* stragglers after a reset: nothing left to track */
	/* Nothing but a SYN-ACK may pass until the server has answered. */
	if (s == HS_TCP_LISTEN || r == HS_TCP_LISTEN) {
		update->invalid = HS_INVALID_UNEXPECTED_ACK;
		return;
	}
	update->invalid = hs_tcp_window_checks(flow, sender, pkt, flags, false);
	if (update->invalid != HS_INVALID_NONE && resync(flow, sender, pkt, update->invalid)) {
		update->invalid = HS_INVALID_NONE;
		update->resynced = true;
	}
	if (update->invalid != HS_INVALID_NONE)
		return;
	flow->ep_flags[sender] &= (uint8_t)~(HS_EP_AHEAD_SEQ | HS_EP_AHEAD_ACK);
	apply_ack(flow, sender, pkt);
	if ((flags & HS_TCP_FIN) && !(flow->ep_flags[sender] & HS_EP_FIN))
		apply_fin(flow, sender);
}

void hs_tcp_update_full(struct hs_flow *flow, enum hs_side sender, const struct hs_packet *pkt,
			struct hs_tcp_update *update)
{
	update->invalid = HS_INVALID_NONE;
	update->restart = false;
	update->resynced = false;
	update_general(flow, sender, pkt, update);
}

void hs_tcp_update(struct hs_flow *flow, enum hs_side sender, const struct hs_packet *pkt,
		   struct hs_tcp_update *update)
{
	update->invalid = HS_INVALID_NONE;
	update->restart = false;
	update->resynced = false;
	/*
	 * Most packets first, in straight-line code (hs_tcp_window.h).  A
	 * packet that fails the window checks there takes the general path,
	 * which checks it again (the checks wrote nothing) and may
	 * resynchronise.
	 */
	if (hs_tcp_update_common(flow, sender, pkt, 0))
		return;
	update_general(flow, sender, pkt, update);
}
