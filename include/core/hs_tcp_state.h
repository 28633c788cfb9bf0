/*
 * hs_tcp_state: the per-endpoint TCP state machine.  It owns the inference
 * of what each endpoint's kernel is in (the eleven RFC 9293 states) from the
 * packets that pass between them, and the sequence/window tracking (Guido van
 * Rooij's four checks, as Linux conntrack does them) that decides whether a
 * packet is plausible.  It is pure: it reads a packet and a flow's endpoint
 * data and writes new endpoint data, nothing else.
 */
#ifndef HS_TCP_STATE_H
#define HS_TCP_STATE_H

#include <stdbool.h>
#include <stdint.h>

struct hs_packet;
struct hs_flow;

enum hs_tcp_state {
	HS_TCP_CLOSED = 0,
	HS_TCP_LISTEN,
	HS_TCP_SYN_SENT,
	HS_TCP_SYN_RCVD,
	HS_TCP_ESTABLISHED,
	HS_TCP_FIN_WAIT_1,
	HS_TCP_FIN_WAIT_2,
	HS_TCP_CLOSING,
	HS_TCP_TIME_WAIT,
	HS_TCP_CLOSE_WAIT,
	HS_TCP_LAST_ACK,
	HS_TCP_STATE_COUNT
};

/* Which endpoint of a flow: the client sent the first SYN. */
enum hs_side { HS_CLIENT = 0, HS_SERVER = 1 };

/* Why a packet was judged invalid.  HS_INVALID_NONE means it was fine. */
enum hs_invalid_reason {
	HS_INVALID_NONE = 0,
	HS_INVALID_BAD_FLAGS,       /* impossible flag combination (SYN+FIN, none, ...) */
	HS_INVALID_NO_FLOW,         /* mid-stream packet and pickup is off */
	HS_INVALID_SEQ_ABOVE_WINDOW,/* data beyond what the receiver allowed (check I) */
	HS_INVALID_SEQ_BELOW_WINDOW,/* data older than the receiver's window (check II) */
	HS_INVALID_ACK_ABOVE,       /* acknowledges data never sent (check III) */
	HS_INVALID_ACK_BELOW,       /* acknowledges far too old data (check IV) */
	HS_INVALID_RST_SEQ,         /* RST whose sequence number is not acceptable */
	HS_INVALID_SYNACK_ACK,      /* SYN-ACK that does not acknowledge the SYN */
	HS_INVALID_UNEXPECTED_SYN,  /* SYN on a synchronised connection */
	HS_INVALID_UNEXPECTED_ACK,  /* ACK where the state machine allows none */
	HS_INVALID_REASON_COUNT
};

/* Timeout classes, in the spirit of Linux conntrack's per-state timeouts. */
enum hs_timeout_class {
	HS_TIMEOUT_SYN_SENT = 0,
	HS_TIMEOUT_SYN_RCVD,
	HS_TIMEOUT_ESTABLISHED,
	HS_TIMEOUT_FIN_WAIT,
	HS_TIMEOUT_CLOSE_WAIT,
	HS_TIMEOUT_LAST_ACK,
	HS_TIMEOUT_TIME_WAIT,
	HS_TIMEOUT_CLOSED,
	HS_TIMEOUT_CLASS_COUNT
};

/* Outcome of one packet on one flow. */
struct hs_tcp_update {
	enum hs_invalid_reason invalid;
	bool restart;               /* a new connection reuses this tuple: reinitialise */
	bool resynced;              /* the windows were resynchronised after packets we missed */
};

/* Upper case with underscores, as in the RFC: "SYN_SENT", "TIME_WAIT". */
const char *hs_tcp_state_name(enum hs_tcp_state state);
/* Parses a name (case-insensitive, '-' accepted for '_'); -1 if unknown. */
int hs_tcp_state_parse(const char *name);
const char *hs_invalid_reason_name(enum hs_invalid_reason reason);
const char *hs_timeout_class_name(enum hs_timeout_class cls);

/*
 * Whether a flow with these endpoint states completed its handshake: one
 * endpoint is ESTABLISHED, or both are past it (a Fast Open server may
 * close before the client's first ACK, so neither was ever ESTABLISHED).
 */
bool hs_tcp_handshake_done(enum hs_tcp_state client, enum hs_tcp_state server);

/* The timeout class that applies to a flow with these endpoint states. */
enum hs_timeout_class hs_tcp_timeout_class(enum hs_tcp_state client,
					   enum hs_tcp_state server);

/*
 * Starts tracking a flow whose first packet, pkt, was sent by `sender`: a
 * SYN (then sender must be HS_CLIENT) or, when pickup is true, an ACK
 * bearing packet of a connection already under way.  Returns false, with the
 * reason in *why, if the packet cannot start a flow: bad flags, a RST or a
 * SYN-ACK, or a mid-stream packet with pickup off.  Only the TCP fields of
 * the flow (states, windows, endpoint flags) are written.
 */
bool hs_tcp_start(struct hs_flow *flow, enum hs_side sender, const struct hs_packet *pkt,
		  bool pickup, enum hs_invalid_reason *why);

/*
 * Applies pkt, sent by endpoint `sender`, to an existing flow: checks it
 * against the tracked windows, then advances both endpoints' states.  An
 * invalid packet changes nothing except what update->invalid reports.
 * If update->restart is set the caller must reinitialise the flow with
 * hs_tcp_start (a SYN reopened a closed tuple) and the states are untouched.
 */
void hs_tcp_update(struct hs_flow *flow, enum hs_side sender,
		   const struct hs_packet *pkt, struct hs_tcp_update *update);

#endif
