/*
 * hs_rst_build: the bytes of the TCP resets that end a tracked connection
 * (for the policy engine's `reset` action and `handshakectl kill`), built
 * from the flow record.  Sending them is the edge's business (hs_rst_send).
 *
 * A modern stack (RFC 5961, section 3) resets a synchronised connection only
 * when the RST's sequence number is exactly the receiver's RCV.NXT; a RST
 * that is merely inside the window draws a challenge ACK and changes
 * nothing.  The receiver's RCV.NXT is the next sequence number its peer will
 * send, which the tracker keeps as flow->window[peer].end, so that is the
 * sequence number every RST built here carries.
 *
 * Building is pure (no I/O, no allocation) so it can be tested byte by
 * byte.
 */
#ifndef HS_RST_BUILD_H
#define HS_RST_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include "hs_flow.h"

/* The longest RST we build: an IPv6 header and a TCP header without options. */
#define HS_RST_MAX_LEN 60u

/* TTL (IPv4) and hop limit (IPv6) of every RST, as a fresh Linux socket uses. */
#define HS_RST_TTL 64u

/* Side bits: which endpoints of a flow get a RST. */
#define HS_RST_TO_CLIENT (1u << HS_CLIENT)
#define HS_RST_TO_SERVER (1u << HS_SERVER)
#define HS_RST_TO_BOTH (HS_RST_TO_CLIENT | HS_RST_TO_SERVER)

/* Where the sequence number of a RST comes from (hs_rst_seq). */
enum hs_rst_seq_source {
	HS_RST_SEQ_UNKNOWN = 0,     /* nothing known: no RST can be built */
	HS_RST_SEQ_SENT,            /* the peer's own highest sequence sent + 1: exact */
	HS_RST_SEQ_ACKED,           /* the peer never spoke; the receiver's own last ACK */
};

/*
 * The sequence number a RST to `to` must carry: its peer's next sequence
 * number, flow->window[peer].end.
 *
 * HS_RST_SEQ_SENT when the peer's side of the flow was seen (its SYN, or a
 * window: window[peer].maxwin != 0 or HS_EP_SYN).
 *
 * HS_RST_SEQ_ACKED when the peer never sent anything we saw but `to` did (a
 * flow picked up mid-stream from `to`'s packets, HS_EP_LIBERAL).  The
 * tracker then keeps `to`'s highest acknowledgement number in
 * window[peer].end (tcp_state.c, pickup_init and check_window), and that is
 * exactly `to`'s RCV.NXT as of its last segment, so the RST is accepted
 * unless the peer has since sent data that did not pass us (asymmetric
 * routing); then it is in-window at worst and draws only a challenge ACK.
 *
 * HS_RST_SEQ_UNKNOWN when neither side's window was ever seen.
 */
enum hs_rst_seq_source hs_rst_seq(const struct hs_flow *flow, enum hs_side to, uint32_t *seq);

/*
 * Builds into buf the RST that endpoint `to` (HS_CLIENT or HS_SERVER) will
 * accept: an IPv4 or IPv6 packet (by flow->family) from its peer's address
 * and port to its own, TTL/hop limit 64, IPv4 ID 0 with DF (the kernel
 * picks an ID for header-included packets whose ID is 0), no TCP options,
 * window 0, a correct IPv4 header checksum and a correct TCP checksum over
 * the pseudo-header.
 *
 * Flags and numbers:
 *   - normally RST alone, seq from hs_rst_seq, ack 0.  A synchronised
 *     receiver (RFC 9293 3.10.7.4, RFC 5961 3.2) looks only at seq.  This
 *     also covers a server in SYN_RCVD (or LISTEN by our convention, its SYN
 *     not yet answered): seq = client ISN + 1 = window[HS_CLIENT].end is the
 *     request socket's RCV.NXT, and the RST frees it.
 *   - when the tracker has `to` in SYN_SENT: RST|ACK with ack =
 *     window[to].end (its ISN + 1), because a SYN-SENT socket ignores any
 *     RST that does not acknowledge its SYN (RFC 9293 3.10.7.3).  seq is
 *     the peer's next sequence number if known (the SYN-ACK was seen and
 *     may have reached `to`, making it ESTABLISHED, where only seq counts),
 *     else 0, which a SYN-SENT socket does not look at.
 *
 * Returns the packet length (40 or 60), or 0 if it does not fit in size
 * bytes, the family is unknown, or the sequence number is unknown (then
 * nothing is written).  Pure: no I/O, no allocation.
 */
size_t hs_rst_build(const struct hs_flow *flow, enum hs_side to, uint8_t *buf, size_t size);

#endif
