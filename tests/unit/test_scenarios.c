/*
 * Scenario tests of the TCP state machine, driven end to end through
 * hs_table_track (daemon/core/tcp_state.c + daemon/core/table.c).  Each scenario is a
 * table of packets (direction, flags, seq, ack, payload) with the states
 * both endpoints must be in afterwards and the invalid reason expected, run
 * by one generic runner for IPv4 and IPv6, with the client as the lower and
 * the higher key endpoint, and with ISNs both small and near 2^32 (so every
 * scenario also crosses the sequence wrap-around).  The runner also checks
 * events, verdict hints, per-side packet and byte counters, the history
 * string, ages and the table's counters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hs_flow.h"
#include "hs_table.h"
#include "hs_tcp_state.h"
#include "scenario.h"

/* ---- step tables ------------------------------------------------------- */

enum { C2S = 0, S2C = 1 };

/* Step options. */
#define O_RAWSEQ   0x01     /* seq is absolute, not relative to the sender's ISN */
#define O_WS7      0x02     /* the packet carries a window scale option of 7 */
#define O_RESTART  0x04     /* a SYN that must reopen the tuple (HS_EVENT_RESTART) */

struct step {
	uint8_t dir;
	uint8_t flags;
	uint8_t client, server;     /* expected states after the packet */
	uint8_t invalid;            /* expected enum hs_invalid_reason */
	uint8_t opt;
	uint32_t seq;               /* relative to the sender's ISN (unless O_RAWSEQ) */
	uint32_t ack;               /* relative to the receiver's ISN; ignored without ACK */
	uint32_t len;               /* payload bytes */
};

struct scenario {
	const char *name;
	bool pickup;
	const char *history;        /* expected hs_flow_history_format at the end */
	uint8_t flags_set;          /* flow flags that must be set at the end */
	uint8_t flags_clear;        /* flow flags that must be clear at the end */
	const struct step *steps;
	size_t nsteps;
};

#define ST(d, f, sq, ak, ln, cs, ss, inv) \
	{ .dir = d, .flags = f, .client = cs, .server = ss, .invalid = inv, .opt = 0, .seq = sq, .ack = ak, .len = ln }
#define STO(d, f, sq, ak, ln, cs, ss, inv, o) \
	{ .dir = d, .flags = f, .client = cs, .server = ss, .invalid = inv, .opt = o, .seq = sq, .ack = ak, .len = ln }

/* States. */
#define CL HS_TCP_CLOSED
#define LI HS_TCP_LISTEN
#define SS HS_TCP_SYN_SENT
#define SR HS_TCP_SYN_RCVD
#define ES HS_TCP_ESTABLISHED
#define F1 HS_TCP_FIN_WAIT_1
#define F2 HS_TCP_FIN_WAIT_2
#define CG HS_TCP_CLOSING
#define TW HS_TCP_TIME_WAIT
#define CW HS_TCP_CLOSE_WAIT
#define LA HS_TCP_LAST_ACK

/* Invalid reasons. */
#define OK     HS_INVALID_NONE
#define BADF   HS_INVALID_BAD_FLAGS
#define ABOVE  HS_INVALID_SEQ_ABOVE_WINDOW
#define BELOW  HS_INVALID_SEQ_BELOW_WINDOW
#define ACKA   HS_INVALID_ACK_ABOVE
#define ACKB   HS_INVALID_ACK_BELOW
#define RSTQ   HS_INVALID_RST_SEQ
#define SYNACK HS_INVALID_SYNACK_ACK
#define USYN   HS_INVALID_UNEXPECTED_SYN

/* Flags. */
#define fS   HS_TCP_SYN
#define fSA  (HS_TCP_SYN | HS_TCP_ACK)
#define fA   HS_TCP_ACK
#define fPA  (HS_TCP_PSH | HS_TCP_ACK)
#define fFA  (HS_TCP_FIN | HS_TCP_ACK)
#define fR   HS_TCP_RST
#define fRA  (HS_TCP_RST | HS_TCP_ACK)

#define FAR  (1u << 30)         /* a quarter of the sequence space: far out of any window */
#define NEG(x) ((uint32_t)0 - (uint32_t)(x))

#define HANDSHAKE \
	ST(C2S, fS, 0, 0, 0, SS, LI, OK), \
	ST(S2C, fSA, 0, 1, 0, SS, SR, OK), \
	ST(C2S, fA, 1, 1, 0, ES, ES, OK)

/* Handshake, client data, server ack, server data, client FIN, server FIN. */
static const struct step close_client_first[] = {
	HANDSHAKE,
	ST(C2S, fPA, 1, 1, 100, ES, ES, OK),
	ST(S2C, fA, 1, 101, 0, ES, ES, OK),
	ST(S2C, fPA, 1, 101, 200, ES, ES, OK),
	ST(C2S, fA, 101, 201, 0, ES, ES, OK),
	ST(C2S, fFA, 101, 201, 0, F1, CW, OK),
	ST(S2C, fA, 201, 102, 0, F2, CW, OK),
	ST(S2C, fFA, 201, 102, 0, TW, LA, OK),
	ST(C2S, fA, 102, 202, 0, TW, CL, OK),
};

static const struct step close_server_first[] = {
	HANDSHAKE,
	ST(S2C, fFA, 1, 1, 0, CW, F1, OK),
	ST(C2S, fA, 1, 2, 0, CW, F2, OK),
	ST(C2S, fFA, 1, 2, 0, LA, TW, OK),
	ST(S2C, fA, 2, 2, 0, CL, TW, OK),
};

/* The server closes; the client acknowledges, may still send, and stays CLOSE_WAIT. */
static const struct step server_closes_client_stays[] = {
	HANDSHAKE,
	ST(S2C, fFA, 1, 1, 0, CW, F1, OK),
	ST(C2S, fA, 1, 2, 0, CW, F2, OK),
	ST(C2S, fPA, 1, 2, 100, CW, F2, OK),
	ST(S2C, fA, 2, 101, 0, CW, F2, OK),
};

/* The FIN+ACK that answers a FIN in FIN_WAIT_1 goes straight to TIME_WAIT. */
static const struct step fin_ack_answers_fin[] = {
	HANDSHAKE,
	ST(C2S, fFA, 1, 1, 0, F1, CW, OK),
	ST(S2C, fFA, 1, 2, 0, TW, LA, OK),
	ST(C2S, fA, 2, 2, 0, TW, CL, OK),
};

static const struct step fin_ack_answers_fin_server_first[] = {
	HANDSHAKE,
	ST(S2C, fFA, 1, 1, 0, CW, F1, OK),
	ST(C2S, fFA, 1, 2, 0, LA, TW, OK),
	ST(S2C, fA, 2, 2, 0, CL, TW, OK),
};

/* Both FINs cross: the second does not acknowledge the first. */
static const struct step simultaneous_close[] = {
	HANDSHAKE,
	ST(C2S, fFA, 1, 1, 0, F1, CW, OK),
	ST(S2C, fFA, 1, 1, 0, CG, CG, OK),
	ST(C2S, fA, 2, 2, 0, CG, TW, OK),
	ST(S2C, fA, 2, 2, 0, TW, TW, OK),
};

/* After the client's FIN is acknowledged the server still sends data. */
static const struct step half_close[] = {
	HANDSHAKE,
	ST(C2S, fFA, 1, 1, 0, F1, CW, OK),
	ST(S2C, fA, 1, 2, 0, F2, CW, OK),
	ST(S2C, fPA, 1, 2, 300, F2, CW, OK),
	ST(C2S, fA, 2, 301, 0, F2, CW, OK),
	ST(S2C, fPA, 301, 2, 300, F2, CW, OK),
	ST(C2S, fA, 2, 601, 0, F2, CW, OK),
	ST(S2C, fFA, 601, 2, 0, TW, LA, OK),
	ST(C2S, fA, 2, 602, 0, TW, CL, OK),
};

/*
 * Both SYNs cross: each endpoint receives a SYN in SYN_SENT, so both are
 * SYN_RCVD; each becomes ESTABLISHED when its own SYN is acknowledged.
 */
static const struct step simultaneous_open[] = {
	ST(C2S, fS, 0, 0, 0, SS, LI, OK),
	ST(S2C, fS, 0, 0, 0, SR, SR, OK),
	ST(C2S, fSA, 0, 1, 0, SR, ES, OK),
	ST(S2C, fSA, 0, 1, 0, ES, ES, OK),
	ST(C2S, fPA, 1, 1, 10, ES, ES, OK),
	ST(S2C, fA, 1, 11, 0, ES, ES, OK),
};

/* The same with the server's SYN-ACK first. */
static const struct step simultaneous_open_server_synack_first[] = {
	ST(C2S, fS, 0, 0, 0, SS, LI, OK),
	ST(S2C, fS, 0, 0, 0, SR, SR, OK),
	ST(S2C, fSA, 0, 1, 0, ES, SR, OK),
	ST(C2S, fSA, 0, 1, 0, ES, ES, OK),
	ST(S2C, fPA, 1, 1, 10, ES, ES, OK),
	ST(C2S, fA, 1, 11, 0, ES, ES, OK),
};

/* Retransmitted SYN, SYN-ACK, data and FINs: same states, never invalid. */
static const struct step retransmissions[] = {
	ST(C2S, fS, 0, 0, 0, SS, LI, OK),
	ST(C2S, fS, 0, 0, 0, SS, LI, OK),
	ST(S2C, fSA, 0, 1, 0, SS, SR, OK),
	ST(S2C, fSA, 0, 1, 0, SS, SR, OK),
	ST(C2S, fS, 0, 0, 0, SS, SR, OK),       /* the SYN-ACK was lost beyond us */
	ST(S2C, fSA, 0, 1, 0, SS, SR, OK),
	ST(C2S, fA, 1, 1, 0, ES, ES, OK),
	ST(S2C, fSA, 0, 1, 0, ES, ES, OK),      /* the ACK was lost beyond us */
	ST(C2S, fA, 1, 1, 0, ES, ES, OK),
	ST(C2S, fPA, 1, 1, 100, ES, ES, OK),
	ST(C2S, fPA, 1, 1, 100, ES, ES, OK),
	ST(S2C, fA, 1, 101, 0, ES, ES, OK),
	ST(C2S, fPA, 1, 1, 100, ES, ES, OK),    /* spurious, already acknowledged */
	ST(C2S, fFA, 101, 1, 0, F1, CW, OK),
	ST(C2S, fFA, 101, 1, 0, F1, CW, OK),
	ST(S2C, fA, 1, 102, 0, F2, CW, OK),
	ST(C2S, fFA, 101, 1, 0, F2, CW, OK),
	ST(S2C, fFA, 1, 102, 0, TW, LA, OK),
	ST(S2C, fFA, 1, 102, 0, TW, LA, OK),
	ST(C2S, fA, 102, 2, 0, TW, CL, OK),
	ST(S2C, fFA, 1, 102, 0, TW, CL, OK),    /* the last ACK was lost beyond us */
	ST(C2S, fA, 102, 2, 0, TW, CL, OK),
};

static const struct step rst_exact_seq[] = {
	HANDSHAKE,
	ST(C2S, fPA, 1, 1, 100, ES, ES, OK),
	ST(S2C, fA, 1, 101, 0, ES, ES, OK),
	ST(C2S, fRA, 101, 1, 0, CL, CL, OK),
};

static const struct step rst_in_window[] = {
	HANDSHAKE,
	ST(S2C, fR, 1001, 0, 0, CL, CL, OK),
};

static const struct step rst_out_of_window[] = {
	HANDSHAKE,
	ST(C2S, fR, 1 + FAR, 0, 0, ES, ES, RSTQ),
	ST(S2C, fRA, 1 - FAR, 1, 0, ES, ES, RSTQ),
	ST(C2S, fPA, 1, 1, 50, ES, ES, OK),
	ST(S2C, fRA, 1, 51, 0, CL, CL, OK),
};

/* The server refuses: RST+ACK, seq 0, ack = client ISN + 1.  The client retries. */
static const struct step rst_answers_syn[] = {
	ST(C2S, fS, 0, 0, 0, SS, LI, OK),
	STO(S2C, fRA, 0, 1, 0, CL, CL, OK, O_RAWSEQ),
	STO(C2S, fS, 0, 0, 0, SS, LI, OK, O_RESTART),
	ST(S2C, fSA, 0, 1, 0, SS, SR, OK),
	ST(C2S, fA, 1, 1, 0, ES, ES, OK),
};

static const struct step fin_out_of_window[] = {
	HANDSHAKE,
	ST(C2S, fFA, 1 + FAR, 1, 0, ES, ES, ABOVE),
	ST(C2S, fFA, 1 - FAR, 1, 0, ES, ES, BELOW),
	ST(C2S, fFA, 1, 1, 0, F1, CW, OK),
	ST(S2C, fFA, 1, 2, 0, TW, LA, OK),
	ST(C2S, fA, 2, 2, 0, TW, CL, OK),
};

/* The four checks of tcp_in_window, unscaled windows of 65535. */
static const struct step window_checks[] = {
	HANDSHAKE,
	ST(C2S, fPA, 1 + 200000, 1, 100, ES, ES, ABOVE),
	ST(C2S, fPA, 1 - 200000, 1, 100, ES, ES, BELOW),
	ST(C2S, fA, 1, 1 + 100000, 0, ES, ES, ACKA),
	ST(C2S, fA, 1, 1 - 200000, 0, ES, ES, ACKB),
	ST(S2C, fPA, 1 + 200000, 1, 100, ES, ES, ABOVE),
	ST(C2S, fPA, 1, 1, 1000, ES, ES, OK),
	ST(S2C, fA, 1, 1001, 0, ES, ES, OK),
	ST(S2C, fPA, 1, 1001, 1000, ES, ES, OK),
	ST(C2S, fA, 1001, 1001, 0, ES, ES, OK),
};

/* Check I at its edge: a segment may start at the last allowed sequence number. */
static const struct step window_edge[] = {
	HANDSHAKE,
	ST(C2S, fPA, 1 + 65535, 1, 10, ES, ES, OK),
	ST(C2S, fPA, 1 + 65536, 1, 10, ES, ES, ABOVE),
	ST(C2S, fPA, 1, 1, 100, ES, ES, OK),
};

/* Window scale 7 in both SYNs: 1 MB ahead is inside the scaled 8 MB window. */
static const struct step wscale_both[] = {
	STO(C2S, fS, 0, 0, 0, SS, LI, OK, O_WS7),
	STO(S2C, fSA, 0, 1, 0, SS, SR, OK, O_WS7),
	ST(C2S, fA, 1, 1, 0, ES, ES, OK),
	ST(S2C, fA, 1, 1, 0, ES, ES, OK),
	ST(C2S, fPA, 1 + 1000000, 1, 1000, ES, ES, OK),
	ST(S2C, fPA, 1 + 1000000, 1, 1000, ES, ES, OK),
};

/* Only one SYN carries the option: no scaling in either direction. */
static const struct step wscale_client_only[] = {
	STO(C2S, fS, 0, 0, 0, SS, LI, OK, O_WS7),
	ST(S2C, fSA, 0, 1, 0, SS, SR, OK),
	ST(C2S, fA, 1, 1, 0, ES, ES, OK),
	ST(S2C, fA, 1, 1, 0, ES, ES, OK),
	ST(C2S, fPA, 1 + 1000000, 1, 1000, ES, ES, ABOVE),
	ST(S2C, fPA, 1 + 1000000, 1, 1000, ES, ES, ABOVE),
};

static const struct step wscale_server_only[] = {
	ST(C2S, fS, 0, 0, 0, SS, LI, OK),
	STO(S2C, fSA, 0, 1, 0, SS, SR, OK, O_WS7),
	ST(C2S, fA, 1, 1, 0, ES, ES, OK),
	ST(S2C, fA, 1, 1, 0, ES, ES, OK),
	ST(C2S, fPA, 1 + 1000000, 1, 1000, ES, ES, ABOVE),
	ST(S2C, fPA, 1 + 1000000, 1, 1000, ES, ES, ABOVE),
};

static const struct step synack_wrong_ack[] = {
	ST(C2S, fS, 0, 0, 0, SS, LI, OK),
	ST(S2C, fSA, 0, 5, 0, SS, LI, SYNACK),
	ST(S2C, fSA, 0, 0, 0, SS, LI, SYNACK),
	ST(S2C, fSA, 0, 1, 0, SS, SR, OK),
	ST(C2S, fA, 1, 1, 0, ES, ES, OK),
};

static const struct step syn_on_established[] = {
	HANDSHAKE,
	ST(C2S, fS, 100000, 0, 0, ES, ES, USYN),
	ST(C2S, fPA, 1, 1, 10, ES, ES, OK),
	ST(S2C, fA, 1, 11, 0, ES, ES, OK),
};

static const struct step bad_flags[] = {
	HANDSHAKE,
	ST(C2S, HS_TCP_SYN | HS_TCP_FIN, 1, 0, 0, ES, ES, BADF),
	ST(S2C, HS_TCP_SYN | HS_TCP_RST, 1, 0, 0, ES, ES, BADF),
	ST(C2S, 0, 1, 0, 0, ES, ES, BADF),
	ST(C2S, fPA, 1, 1, 10, ES, ES, OK),
	ST(S2C, fA, 1, 11, 0, ES, ES, OK),
};

/* A new SYN in TIME_WAIT starts a new connection with new ISNs. */
static const struct step restart_after_time_wait[] = {
	HANDSHAKE,
	ST(C2S, fFA, 1, 1, 0, F1, CW, OK),
	ST(S2C, fFA, 1, 2, 0, TW, LA, OK),
	ST(C2S, fA, 2, 2, 0, TW, CL, OK),
	STO(C2S, fS, 100000, 0, 0, SS, LI, OK, O_RESTART),
	ST(S2C, fSA, 200000, 100001, 0, SS, SR, OK),
	ST(C2S, fA, 100001, 200001, 0, ES, ES, OK),
	ST(C2S, fPA, 100001, 200001, 10, ES, ES, OK),
};

/* The same with the server in TIME_WAIT and the client CLOSED. */
static const struct step restart_after_server_time_wait[] = {
	HANDSHAKE,
	ST(S2C, fFA, 1, 1, 0, CW, F1, OK),
	ST(C2S, fFA, 1, 2, 0, LA, TW, OK),
	ST(S2C, fA, 2, 2, 0, CL, TW, OK),
	STO(C2S, fS, 100000, 0, 0, SS, LI, OK, O_RESTART),
	ST(S2C, fSA, 200000, 100001, 0, SS, SR, OK),
	ST(C2S, fA, 100001, 200001, 0, ES, ES, OK),
};

static const struct step restart_after_rst[] = {
	HANDSHAKE,
	ST(C2S, fRA, 1, 1, 0, CL, CL, OK),
	STO(C2S, fS, 100000, 0, 0, SS, LI, OK, O_RESTART),
	ST(S2C, fSA, 200000, 100001, 0, SS, SR, OK),
	ST(C2S, fA, 100001, 200001, 0, ES, ES, OK),
};

/* Picked up mid-stream by client data, then a normal close. */
static const struct step pickup_data[] = {
	ST(C2S, fPA, 1, 1, 100, ES, ES, OK),
	ST(S2C, fA, 1, 101, 0, ES, ES, OK),
	ST(S2C, fPA, 1, 101, 500, ES, ES, OK),
	ST(C2S, fA, 101, 501, 0, ES, ES, OK),
	ST(C2S, fFA, 101, 501, 0, F1, CW, OK),
	ST(S2C, fFA, 501, 102, 0, TW, LA, OK),
	ST(C2S, fA, 102, 502, 0, TW, CL, OK),
};

/* Picked up by a pure ACK; the window checks are liberal afterwards. */
static const struct step pickup_liberal[] = {
	ST(C2S, fA, 1, 1, 0, ES, ES, OK),
	ST(S2C, fPA, 1 + 7777777, 1, 100, ES, ES, OK),
	ST(C2S, fPA, 1 + 1000000, 1 + 7777877, 100, ES, ES, OK),
	ST(C2S, fFA, 1 + 1000100, 1 + 7777877, 0, F1, CW, OK),
	ST(S2C, fFA, 1 + 7777877, 1 + 1000101, 0, TW, LA, OK),
	ST(C2S, fA, 1 + 1000101, 1 + 7777878, 0, TW, CL, OK),
};

/* ---- SYNs that carry data (TCP Fast Open, RFC 7413) and the handshake ---- */

#define fSEC  (HS_TCP_SYN | HS_TCP_ECE | HS_TCP_CWR)
#define fSAE  (HS_TCP_SYN | HS_TCP_ACK | HS_TCP_ECE)

/* A Fast Open server takes the SYN's data: the SYN-ACK acknowledges all of it. */
static const struct step syn_data_acked_fully[] = {
	ST(C2S, fS, 0, 0, 100, SS, LI, OK),
	ST(S2C, fSA, 0, 101, 0, SS, SR, OK),
	ST(C2S, fA, 101, 1, 0, ES, ES, OK),
	ST(S2C, fPA, 1, 101, 200, ES, ES, OK),
	ST(C2S, fA, 101, 201, 0, ES, ES, OK),
	ST(C2S, fFA, 101, 201, 0, F1, CW, OK),
	ST(S2C, fFA, 201, 102, 0, TW, LA, OK),
	ST(C2S, fA, 102, 202, 0, TW, CL, OK),
};

/*
 * A server without Fast Open (or with a bad cookie) acknowledges the SYN
 * alone; the client sends the data again after the handshake.
 */
static const struct step syn_data_acked_syn_only[] = {
	ST(C2S, fS, 0, 0, 100, SS, LI, OK),
	ST(S2C, fSA, 0, 1, 0, SS, SR, OK),
	ST(C2S, fA, 101, 1, 0, ES, ES, OK),
	ST(C2S, fPA, 1, 1, 100, ES, ES, OK),
	ST(S2C, fA, 1, 101, 0, ES, ES, OK),
	ST(S2C, fPA, 1, 101, 50, ES, ES, OK),
	ST(C2S, fFA, 101, 51, 0, F1, CW, OK),
	ST(S2C, fFA, 51, 102, 0, TW, LA, OK),
	ST(C2S, fA, 102, 52, 0, TW, CL, OK),
};

/*
 * A SYN-ACK must acknowledge the SYN and nothing unsent (ISS < ack =<
 * SND.NXT); a server may take part of the data.
 */
static const struct step syn_data_acked_partly[] = {
	ST(C2S, fS, 0, 0, 100, SS, LI, OK),
	ST(S2C, fSA, 0, 0, 0, SS, LI, SYNACK),
	ST(S2C, fSA, 0, 102, 0, SS, LI, SYNACK),
	ST(S2C, fSA, 0, NEG(1), 0, SS, LI, SYNACK),
	ST(S2C, fSA, 0, 41, 0, SS, SR, OK),
	ST(C2S, fA, 101, 1, 0, ES, ES, OK),
	ST(C2S, fPA, 41, 1, 60, ES, ES, OK),
	ST(S2C, fA, 1, 101, 0, ES, ES, OK),
};

/*
 * A Fast Open server writes in SYN-RCVD, within the window the SYN
 * offered, and may close before the client's first ACK.  The client's
 * ACKs must acknowledge the server's SYN.
 */
static const struct step tfo_server_data_in_syn_rcvd[] = {
	ST(C2S, fS, 0, 0, 100, SS, LI, OK),
	ST(S2C, fSA, 0, 101, 0, SS, SR, OK),
	ST(S2C, fPA, 1, 101, 1000, SS, SR, OK),
	ST(S2C, fPA, 1001, 101, 1000, SS, SR, OK),
	ST(S2C, fFA, 2001, 101, 0, SS, F1, OK),
	ST(C2S, fA, 101, 0, 0, SS, F1, ACKB),
	ST(C2S, fA, 101, 1, 0, CW, F1, OK),
	ST(C2S, fA, 101, 2002, 0, CW, F2, OK),
	ST(C2S, fFA, 101, 2002, 0, LA, TW, OK),
	ST(S2C, fA, 2002, 102, 0, CL, TW, OK),
};

/* The window the SYN offered (65535, unscaled) bounds the server before the client's ACK. */
static const struct step tfo_server_data_beyond_syn_window[] = {
	ST(C2S, fS, 0, 0, 10, SS, LI, OK),
	ST(S2C, fSA, 0, 11, 0, SS, SR, OK),
	ST(S2C, fPA, 65537, 11, 10, SS, SR, ABOVE),
	ST(S2C, fPA, 65536, 11, 10, SS, SR, OK),
	ST(C2S, fA, 11, 65546, 0, ES, ES, OK),
	ST(S2C, fPA, 65546, 11, 10, ES, ES, OK),
};

/* A SYN-ACK with data; the client acknowledges only the SYN and the server sends it again. */
static const struct step synack_with_data[] = {
	ST(C2S, fS, 0, 0, 0, SS, LI, OK),
	ST(S2C, fSA, 0, 1, 50, SS, SR, OK),
	ST(C2S, fA, 1, 1, 0, ES, ES, OK),
	ST(S2C, fPA, 1, 1, 50, ES, ES, OK),
	ST(C2S, fA, 1, 51, 0, ES, ES, OK),
	ST(S2C, fPA, 51, 1, 100, ES, ES, OK),
	ST(C2S, fA, 1, 151, 0, ES, ES, OK),
};

/* The same, the client taking the data at once. */
static const struct step synack_with_data_acked[] = {
	ST(C2S, fS, 0, 0, 0, SS, LI, OK),
	ST(S2C, fSA, 0, 1, 50, SS, SR, OK),
	ST(C2S, fA, 1, 51, 0, ES, ES, OK),
	ST(C2S, fPA, 1, 51, 10, ES, ES, OK),
	ST(S2C, fA, 51, 11, 0, ES, ES, OK),
};

/* A server refusing a SYN with data acknowledges the SYN alone (or all of it). */
static const struct step rst_answers_syn_with_data[] = {
	ST(C2S, fS, 0, 0, 100, SS, LI, OK),
	STO(S2C, fRA, 0, 0, 0, SS, LI, RSTQ, O_RAWSEQ),
	STO(S2C, fRA, 0, 102, 0, SS, LI, RSTQ, O_RAWSEQ),
	STO(S2C, fR, 0, 0, 0, SS, LI, RSTQ, O_RAWSEQ),
	STO(S2C, fRA, 0, 1, 0, CL, CL, OK, O_RAWSEQ),
	STO(C2S, fS, 0, 0, 100, SS, LI, OK, O_RESTART),
	STO(S2C, fRA, 0, 101, 0, CL, CL, OK, O_RAWSEQ),
};

/* Both SYNs carry data; each SYN-ACK acknowledges the other SYN alone. */
static const struct step simultaneous_open_syn_data[] = {
	ST(C2S, fS, 0, 0, 10, SS, LI, OK),
	ST(S2C, fS, 0, 0, 20, SR, SR, OK),
	ST(C2S, fSA, 0, 1, 0, SR, ES, OK),
	ST(S2C, fSA, 0, 1, 0, ES, ES, OK),
	ST(C2S, fPA, 1, 1, 10, ES, ES, OK),
	ST(S2C, fPA, 1, 11, 20, ES, ES, OK),
	ST(C2S, fA, 11, 21, 0, ES, ES, OK),
	ST(S2C, fA, 21, 11, 0, ES, ES, OK),
};

/*
 * Linux resends a Fast Open SYN without its data; a server that took the
 * first one acknowledges the data all the same.
 */
static const struct step syn_data_retransmitted_bare[] = {
	ST(C2S, fS, 0, 0, 100, SS, LI, OK),
	ST(C2S, fS, 0, 0, 0, SS, LI, OK),
	ST(S2C, fSA, 0, 101, 0, SS, SR, OK),
	ST(C2S, fS, 0, 0, 0, SS, SR, OK),       /* the SYN-ACK was lost beyond us */
	ST(S2C, fSA, 0, 101, 0, SS, SR, OK),
	ST(S2C, fPA, 1, 101, 100, SS, SR, OK),
	ST(S2C, fSA, 0, 101, 0, SS, SR, OK),    /* again, after its data */
	ST(C2S, fA, 101, 101, 0, ES, ES, OK),
};

/* ECN setup (RFC 3168 6.1.1): SYN with ECE and CWR, SYN-ACK with ECE, then CE echoes. */
static const struct step ecn_setup[] = {
	ST(C2S, fSEC, 0, 0, 0, SS, LI, OK),
	ST(S2C, fSAE, 0, 1, 0, SS, SR, OK),
	ST(C2S, fA, 1, 1, 0, ES, ES, OK),
	ST(C2S, fPA | HS_TCP_CWR, 1, 1, 100, ES, ES, OK),
	ST(S2C, fA | HS_TCP_ECE, 1, 101, 0, ES, ES, OK),
};

/* ECN setup with a SYN that carries data, retransmitted bare without ECN (RFC 3168 6.1.1.1). */
static const struct step ecn_syn_data_retried_plain[] = {
	ST(C2S, fSEC, 0, 0, 30, SS, LI, OK),
	ST(C2S, fS, 0, 0, 0, SS, LI, OK),
	ST(S2C, fSA, 0, 1, 0, SS, SR, OK),
	ST(C2S, fA, 31, 1, 0, ES, ES, OK),
	ST(C2S, fPA, 1, 1, 30, ES, ES, OK),
};

/*
 * A SYN retried without the window scale option: the server answered the
 * first, so scaling stays on (8 MB windows at shift 7).
 */
static const struct step syn_retried_without_wscale[] = {
	STO(C2S, fS, 0, 0, 0, SS, LI, OK, O_WS7),
	ST(C2S, fS, 0, 0, 0, SS, LI, OK),
	STO(S2C, fSA, 0, 1, 0, SS, SR, OK, O_WS7),
	ST(C2S, fA, 1, 1, 0, ES, ES, OK),
	ST(S2C, fA, 1, 1, 0, ES, ES, OK),
	ST(C2S, fPA, 1 + 1000000, 1, 1000, ES, ES, OK),
};

/* The same the other way round: the retry adds the option the first lacked. */
static const struct step syn_retried_with_wscale[] = {
	ST(C2S, fS, 0, 0, 0, SS, LI, OK),
	STO(C2S, fS, 0, 0, 0, SS, LI, OK, O_WS7),
	STO(S2C, fSA, 0, 1, 0, SS, SR, OK, O_WS7),
	ST(C2S, fA, 1, 1, 0, ES, ES, OK),
	ST(S2C, fA, 1, 1, 0, ES, ES, OK),
	ST(S2C, fPA, 1 + 1000000, 1, 1000, ES, ES, OK),
};

#define SCEN(n, pu, hist, fset, fclr) \
	{ .name = #n, .pickup = pu, .history = hist, .flags_set = fset, .flags_clear = fclr, \
	  .steps = n, .nsteps = SC_ARRAY_SIZE(n) }
#define EST HS_FLOW_ESTABLISHED
#define PICK HS_FLOW_PICKED_UP

static const struct scenario scenarios[] = {
	SCEN(close_client_first, false, "ShADadFf", EST, PICK),
	SCEN(close_server_first, false, "ShAfFa", EST, PICK),
	SCEN(server_closes_client_stays, false, "ShAfDa", EST, PICK),
	SCEN(fin_ack_answers_fin, false, "ShAFf", EST, PICK),
	SCEN(fin_ack_answers_fin_server_first, false, "ShAfFa", EST, PICK),
	SCEN(simultaneous_close, false, "ShAFfa", EST, PICK),
	SCEN(half_close, false, "ShAFadf", EST, PICK),
	SCEN(simultaneous_open, false, "SsHhDa", EST, PICK),
	SCEN(simultaneous_open_server_synack_first, false, "SshHdA", EST, PICK),
	SCEN(retransmissions, false, "ShADaFf", EST, PICK),
	SCEN(rst_exact_seq, false, "ShADaR", EST, PICK),
	SCEN(rst_in_window, false, "ShAr", EST, PICK),
	SCEN(rst_out_of_window, false, "ShAIiDr", EST, PICK),
	SCEN(rst_answers_syn, false, "ShA", EST, PICK),
	SCEN(fin_out_of_window, false, "ShAIFf", EST, PICK),
	SCEN(window_checks, false, "ShAIiDad", EST, PICK),
	SCEN(window_edge, false, "ShADI", EST, PICK),
	SCEN(wscale_both, false, "ShAaDd", EST, PICK),
	SCEN(wscale_client_only, false, "ShAaIi", EST, PICK),
	SCEN(wscale_server_only, false, "ShAaIi", EST, PICK),
	SCEN(synack_wrong_ack, false, "SihA", EST, PICK),
	SCEN(syn_on_established, false, "ShAIDa", EST, PICK),
	SCEN(bad_flags, false, "ShAIiDa", EST, PICK),
	SCEN(restart_after_time_wait, false, "ShAD", EST, PICK),
	SCEN(restart_after_server_time_wait, false, "ShA", EST, PICK),
	SCEN(restart_after_rst, false, "ShA", EST, PICK),
	SCEN(pickup_data, true, "DadAFf", EST | PICK, 0),
	SCEN(pickup_liberal, true, "AdDFf", EST | PICK, 0),
	SCEN(syn_data_acked_fully, false, "ThAdFf", EST, PICK),
	SCEN(syn_data_acked_syn_only, false, "ThADadFf", EST, PICK),
	SCEN(syn_data_acked_partly, false, "TihADa", EST, PICK),
	SCEN(tfo_server_data_in_syn_rcvd, false, "ThdfIAFa", EST, PICK),
	SCEN(tfo_server_data_beyond_syn_window, false, "ThidA", EST, PICK),
	SCEN(synack_with_data, false, "StAd", EST, PICK),
	SCEN(synack_with_data_acked, false, "StADa", EST, PICK),
	SCEN(rst_answers_syn_with_data, false, "Tr", 0, EST | PICK),
	SCEN(simultaneous_open_syn_data, false, "TtHhDdAa", EST, PICK),
	SCEN(syn_data_retransmitted_bare, false, "ThdA", EST, PICK),
	SCEN(ecn_setup, false, "ShADa", EST, PICK),
	SCEN(ecn_syn_data_retried_plain, false, "ThAD", EST, PICK),
	SCEN(syn_retried_without_wscale, false, "ShAaD", EST, PICK),
	SCEN(syn_retried_with_wscale, false, "ShAad", EST, PICK),
};

/* ---- variants ---------------------------------------------------------- */

struct variant {
	uint8_t family;
	uint32_t client_host, server_host;  /* equal hosts: the ports order the key */
	uint32_t isn[2];                    /* client, server */
};

static const uint32_t isn_sets[][2] = {
	{ 1000, 5000 },
	{ 0xffffff00u, 0xfffffff0u },       /* both wrap within the first few hundred bytes */
	{ 0x7ffffff0u, 0xffffffffu },       /* the server's SYN takes the last number: next is 0 */
};

static const uint32_t host_orders[][2] = {
	{ 1, 2 },                           /* client is key endpoint 0 */
	{ 9, 2 },                           /* client is key endpoint 1 */
	{ 5, 5 },                           /* same host: port 40000 > 80, client is endpoint 1 */
};

#define CLIENT_PORT 40000
#define SERVER_PORT 80
#define T_BASE 1000000u                     /* table creation time, ms */
#define T_STEP 1000u                        /* ms between steps */

static void variant_name(const struct variant *v, char *buf, size_t size)
{
	snprintf(buf, size, "IPv%u hosts %u->%u isn c=%#x s=%#x", v->family, v->client_host,
		 v->server_host, v->isn[0], v->isn[1]);
}

/* ---- runner ------------------------------------------------------------ */

static bool closedish(uint8_t s)
{
	return s == HS_TCP_CLOSED || s == HS_TCP_TIME_WAIT;
}

/* Closed per HS_EVENT_CLOSED: both CLOSED, or one TIME_WAIT and one CLOSED. */
static bool closed_pair(uint8_t c, uint8_t s)
{
	return closedish(c) && closedish(s) && !(c == HS_TCP_TIME_WAIT && s == HS_TCP_TIME_WAIT);
}

#define FAILF(...) do { \
		char v_[96]; \
		variant_name(v, v_, sizeof(v_)); \
		fprintf(stderr, "FAIL %s [%s] step %zu: ", sc->name, v_, i + 1); \
		fprintf(stderr, __VA_ARGS__); \
		fprintf(stderr, "\n"); \
		ok = false; \
		goto out; \
	} while (0)

#define CHECK_STATE(got, want, what) do { \
		if ((got) != (want)) \
			FAILF("%s: expected %s, got %s", what, hs_tcp_state_name((enum hs_tcp_state)(want)), \
			      hs_tcp_state_name((enum hs_tcp_state)(got))); \
	} while (0)

#define CHECK_INT(got, want, what) do { \
		unsigned long long g_ = (unsigned long long)(got), w_ = (unsigned long long)(want); \
		if (g_ != w_) \
			FAILF("%s: expected %llu, got %llu", what, w_, g_); \
	} while (0)

static bool run_variant(const struct scenario *sc, const struct variant *v)
{
	struct hs_addr addr[2];
	struct hs_table *t = sc_table(64, sc->pickup, T_BASE);
	const uint16_t port[2] = { CLIENT_PORT, SERVER_PORT };
	struct hs_flow *flow = NULL;
	uint32_t packets[2] = { 0, 0 };
	uint64_t bytes[2] = { 0, 0 };
	uint64_t invalid[HS_INVALID_REASON_COUNT] = { 0 };
	uint64_t restarts = 0, first_ms = 0, last_valid_ms = 0, syn_with_data = 0;
	uint8_t prev[2] = { HS_TCP_CLOSED, HS_TCP_CLOSED };
	bool ok = true, last_valid = false;
	size_t i = 0;

	sc_addr(v->family, v->client_host, &addr[HS_CLIENT]);
	sc_addr(v->family, v->server_host, &addr[HS_SERVER]);

	for (i = 0; i < sc->nsteps; i++) {
		const struct step *st = &sc->steps[i];
		enum hs_side from = st->dir == C2S ? HS_CLIENT : HS_SERVER;
		enum hs_side to = from == HS_CLIENT ? HS_SERVER : HS_CLIENT;
		uint32_t seq = (st->opt & O_RAWSEQ) ? st->seq : v->isn[from] + st->seq;
		uint32_t ack = (st->flags & HS_TCP_ACK) ? v->isn[to] + st->ack : 0;
		uint8_t ws = (st->opt & O_WS7) ? 7 : HS_WSCALE_NONE;
		uint64_t now = T_BASE + T_STEP * (i + 1);
		bool restart = (st->opt & O_RESTART) != 0;
		struct hs_packet pkt;
		struct hs_track_result res;
		struct hs_flow_key key;
		bool src_is_0;

		sc_packet(&pkt, v->family, &addr[from], port[from], &addr[to], port[to], st->flags, seq, ack,
			  65535, ws, st->len);
		hs_table_track(t, &pkt, now, &res);

		if (res.flow == NULL)
			FAILF("no flow (invalid %s, hint %d)", hs_invalid_reason_name(res.invalid), res.hint);
		if (i == 0)
			flow = res.flow;
		else if (res.flow != flow)
			FAILF("result.flow changed");
		memset(&key, 0, sizeof(key));
		hs_flow_key_from_packet(&pkt, &key, &src_is_0);
		if (hs_table_lookup(t, &key) != flow)
			FAILF("lookup does not find the flow");

		if (res.invalid != st->invalid)
			FAILF("invalid: expected %s, got %s", hs_invalid_reason_name(st->invalid),
			      hs_invalid_reason_name(res.invalid));
		CHECK_INT(res.hint, st->invalid ? HS_HINT_INVALID : HS_HINT_ACCEPT, "hint");
		CHECK_STATE(res.new_state[HS_CLIENT], st->client, "client state");
		CHECK_STATE(res.new_state[HS_SERVER], st->server, "server state");
		CHECK_STATE(flow->state[HS_CLIENT], st->client, "flow client state");
		CHECK_STATE(flow->state[HS_SERVER], st->server, "flow server state");
		CHECK_INT(res.sender, from, "sender");

		/* Events. */
		CHECK_INT(!!(res.events & HS_EVENT_RESTART), restart, "HS_EVENT_RESTART");
		if (i == 0)
			CHECK_INT(!!(res.events & HS_EVENT_NEW), 1, "HS_EVENT_NEW on the first packet");
		else if (!restart)
			CHECK_INT(!!(res.events & HS_EVENT_NEW), 0, "HS_EVENT_NEW after the first packet");
		if (i > 0 && !restart) {
			bool changed = st->client != prev[0] || st->server != prev[1];

			CHECK_STATE(res.old_state[HS_CLIENT], prev[0], "old client state");
			CHECK_STATE(res.old_state[HS_SERVER], prev[1], "old server state");
			CHECK_INT(!!(res.events & HS_EVENT_STATE), changed, "HS_EVENT_STATE");
			/* Both TIME_WAIT (after a simultaneous close) is left open by the contract. */
			bool both_tw = st->client == HS_TCP_TIME_WAIT && st->server == HS_TCP_TIME_WAIT;

			if (!closed_pair(st->client, st->server) && !both_tw)
				CHECK_INT(!!(res.events & HS_EVENT_CLOSED), 0, "HS_EVENT_CLOSED while open");
			else if (!both_tw && !closed_pair(prev[0], prev[1]))
				CHECK_INT(!!(res.events & HS_EVENT_CLOSED), 1, "HS_EVENT_CLOSED on closing");
		}

		/* Counters (every packet a flow holds is counted, by its wire length). */
		if (i == 0 || restart) {
			memset(packets, 0, sizeof(packets));
			memset(bytes, 0, sizeof(bytes));
			first_ms = now;
		}
		if (restart)
			restarts++;
		if ((st->flags & HS_TCP_SYN) && st->len)
			syn_with_data++;
		packets[from]++;
		bytes[from] += pkt.wire_len;
		invalid[st->invalid]++;
		CHECK_INT(flow->packets[HS_CLIENT], packets[HS_CLIENT], "client packets");
		CHECK_INT(flow->packets[HS_SERVER], packets[HS_SERVER], "server packets");
		CHECK_INT(hs_flow_bytes(flow, HS_CLIENT), bytes[HS_CLIENT], "client bytes");
		CHECK_INT(hs_flow_bytes(flow, HS_SERVER), bytes[HS_SERVER], "server bytes");
		CHECK_INT(hs_table_stats(t)->live, 1, "stats.live");
		CHECK_INT(hs_table_stats(t)->live_half_open, !(flow->flags & HS_FLOW_ESTABLISHED),
			  "stats.live_half_open");
		if ((st->client == HS_TCP_ESTABLISHED || st->server == HS_TCP_ESTABLISHED) &&
		    !(flow->flags & HS_FLOW_ESTABLISHED))
			FAILF("an endpoint is ESTABLISHED but the flow lacks HS_FLOW_ESTABLISHED");

		/* Key and endpoints. */
		CHECK_INT(hs_flow_family(flow), v->family, "flow family");
		struct hs_addr client = hs_flow_addr(flow, HS_CLIENT), server = hs_flow_addr(flow, HS_SERVER);
		if (memcmp(&client, &addr[HS_CLIENT], sizeof(struct hs_addr)) != 0 ||
		    memcmp(&server, &addr[HS_SERVER], sizeof(struct hs_addr)) != 0)
			FAILF("client/server addresses swapped");
		CHECK_INT(hs_flow_port(flow, HS_CLIENT), CLIENT_PORT, "client port");
		CHECK_INT(hs_flow_port(flow, HS_SERVER), SERVER_PORT, "server port");

		if (st->invalid == HS_INVALID_NONE) {
			last_valid_ms = now;
			last_valid = true;
		} else {
			last_valid = false;
		}
		prev[0] = st->client;
		prev[1] = st->server;
	}

	/* The whole story. */
	i = sc->nsteps - 1;
	{
		char hist[HS_HISTORY_MAX + 1];
		const struct hs_table_stats *stats = hs_table_stats(t);
		uint64_t now = T_BASE + T_STEP * sc->nsteps;

		hs_flow_history_format(flow, hist, sizeof(hist));
		if (strcmp(hist, sc->history) != 0)
			FAILF("history: expected \"%s\", got \"%s\"", sc->history, hist);
		if ((flow->flags & sc->flags_set) != sc->flags_set)
			FAILF("flow flags %#x lack %#x", flow->flags, sc->flags_set);
		if (flow->flags & sc->flags_clear)
			FAILF("flow flags %#x have %#x", flow->flags, sc->flags_clear);
		CHECK_INT(stats->packets, sc->nsteps, "stats.packets");
		for (int r = 1; r < HS_INVALID_REASON_COUNT; r++) {
			if (stats->invalid[r] != invalid[r])
				FAILF("stats.invalid[%s]: expected %llu, got %llu",
				      hs_invalid_reason_name((enum hs_invalid_reason)r),
				      (unsigned long long)invalid[r], (unsigned long long)stats->invalid[r]);
		}
		CHECK_INT(stats->restarts, restarts, "stats.restarts");
		CHECK_INT(stats->syn_with_data, syn_with_data, "stats.syn_with_data");
		if (restarts == 0)
			CHECK_INT(stats->flows_created, 1, "stats.flows_created");
		CHECK_INT(hs_flow_age_ms(t, flow, now + 500), now + 500 - first_ms, "age");
		if (last_valid)
			CHECK_INT(hs_flow_idle_ms(t, flow, now + 500), now + 500 - last_valid_ms, "idle");
		CHECK_INT(hs_table_find_id(t, flow->id) == flow, 1, "find_id");
	}
out:
	sc_table_free(t);
	return ok;
}

static void run_scenario(void **state)
{
	const struct scenario *sc = *state;
	unsigned failed = 0, total = 0;

	for (size_t f = 0; f < 2; f++) {
		for (size_t o = 0; o < SC_ARRAY_SIZE(host_orders); o++) {
			for (size_t s = 0; s < SC_ARRAY_SIZE(isn_sets); s++) {
				struct variant v = {
					.family = f == 0 ? HS_FAMILY_IPV4 : HS_FAMILY_IPV6,
					.client_host = host_orders[o][0],
					.server_host = host_orders[o][1],
					.isn = { isn_sets[s][0], isn_sets[s][1] },
				};
				total++;
				if (!run_variant(sc, &v))
					failed++;
			}
		}
	}
	if (failed)
		fail_msg("%s: failed in %u of %u variants", sc->name, failed, total);
}

/* ---- packets that find no flow ------------------------------------------ */

static void track_v4(struct hs_table *t, uint8_t flags, uint32_t len, uint64_t now,
		     struct hs_track_result *res)
{
	struct hs_addr a, b;
	struct hs_packet pkt;

	sc_addr(HS_FAMILY_IPV4, 1, &a);
	sc_addr(HS_FAMILY_IPV4, 2, &b);
	sc_packet(&pkt, HS_FAMILY_IPV4, &a, CLIENT_PORT, &b, SERVER_PORT, flags, 1234, 5678, 65535,
		  HS_WSCALE_NONE, len);
	hs_table_track(t, &pkt, now, res);
}

static void expect_no_flow(struct hs_table *t, uint8_t flags, uint32_t len, enum hs_invalid_reason why)
{
	struct hs_track_result res;

	track_v4(t, flags, len, T_BASE, &res);
	assert_null(res.flow);
	assert_string_equal(hs_invalid_reason_name(res.invalid), hs_invalid_reason_name(why));
	assert_int_equal(res.hint, HS_HINT_INVALID);
	assert_int_equal(res.events & HS_EVENT_NEW, 0);
	assert_int_equal(hs_table_stats(t)->live, 0);
	assert_int_equal(hs_table_stats(t)->flows_created, 0);
}

static void test_no_pickup(void **state)
{
	(void)state;
	struct hs_table *t = sc_table(16, false, T_BASE);
	struct hs_track_result res;

	expect_no_flow(t, HS_TCP_ACK, 0, HS_INVALID_NO_FLOW);
	expect_no_flow(t, HS_TCP_ACK | HS_TCP_PSH, 100, HS_INVALID_NO_FLOW);
	expect_no_flow(t, HS_TCP_FIN | HS_TCP_ACK, 0, HS_INVALID_NO_FLOW);
	expect_no_flow(t, HS_TCP_RST, 0, HS_INVALID_NO_FLOW);
	assert_int_equal(hs_table_stats(t)->invalid[HS_INVALID_NO_FLOW], 4);
	assert_int_equal(hs_table_stats(t)->packets, 4);
	/* A SYN still opens a flow. */
	track_v4(t, HS_TCP_SYN, 0, T_BASE, &res);
	assert_non_null(res.flow);
	assert_int_equal(res.invalid, HS_INVALID_NONE);
	assert_int_equal(res.events & HS_EVENT_NEW, HS_EVENT_NEW);
	assert_int_equal(hs_table_stats(t)->live, 1);
	sc_table_free(t);
}

static void test_rst_never_creates(void **state)
{
	(void)state;
	struct hs_table *t = sc_table(16, true, T_BASE);

	expect_no_flow(t, HS_TCP_RST, 0, HS_INVALID_NO_FLOW);
	expect_no_flow(t, HS_TCP_RST | HS_TCP_ACK, 0, HS_INVALID_NO_FLOW);
	sc_table_free(t);
}

static void test_bad_flags_no_flow(void **state)
{
	(void)state;
	struct hs_table *t = sc_table(16, true, T_BASE);

	expect_no_flow(t, HS_TCP_SYN | HS_TCP_FIN, 0, HS_INVALID_BAD_FLAGS);
	expect_no_flow(t, HS_TCP_SYN | HS_TCP_RST, 0, HS_INVALID_BAD_FLAGS);
	expect_no_flow(t, 0, 0, HS_INVALID_BAD_FLAGS);
	assert_int_equal(hs_table_stats(t)->invalid[HS_INVALID_BAD_FLAGS], 3);
	sc_table_free(t);
}

/*
 * Packets that passed without us (the queue's fail-open): both sides sent
 * data we never saw.  A small gap (up to a window of acknowledged data)
 * catches up with the first packet that acknowledges it; a larger one needs
 * a packet from each side; packets far beyond any window, as a spoofer's
 * would be, never move the windows.
 */
static void test_resync_after_missed_packets(void **state)
{
	struct sc_conn c, b, d;
	struct hs_track_result res;
	(void)state;

	struct hs_table *t = sc_table(16, false, 1000);

	/* 500 bytes each way pass unseen: the next packet catches up. */
	sc_conn_init(&c, HS_FAMILY_IPV4, 1, 40000, 2, 80);
	sc_open(t, &c, 1000);
	c.next[HS_CLIENT] += 500;
	c.next[HS_SERVER] += 500;
	sc_send(t, &c, HS_CLIENT, HS_TCP_ACK, 10, 1100, &res);
	assert_int_equal(res.invalid, HS_INVALID_NONE);
	assert_int_equal(hs_table_stats(t)->resyncs, 1);
	sc_step(t, &c, HS_SERVER, HS_TCP_ACK, 10, 1110, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED);
	sc_step(t, &c, HS_CLIENT, HS_TCP_FIN | HS_TCP_ACK, 0, 1120, HS_TCP_FIN_WAIT_1, HS_TCP_CLOSE_WAIT);

	/* 200 kB each way, more than a window: one side alone is not enough. */
	sc_conn_init(&b, HS_FAMILY_IPV4, 3, 40000, 2, 80);
	sc_open(t, &b, 2000);
	b.next[HS_CLIENT] += 200000;
	b.next[HS_SERVER] += 200000;
	sc_send(t, &b, HS_CLIENT, HS_TCP_ACK, 10, 2100, &res);
	assert_int_not_equal(res.invalid, HS_INVALID_NONE);
	sc_send(t, &b, HS_CLIENT, HS_TCP_ACK, 10, 2110, &res);
	assert_int_not_equal(res.invalid, HS_INVALID_NONE);
	assert_int_equal(hs_table_stats(t)->resyncs, 1);
	b.next[HS_CLIENT] += 20;   /* those two reached the server */
	sc_send(t, &b, HS_SERVER, HS_TCP_ACK, 10, 2120, &res);
	assert_int_equal(res.invalid, HS_INVALID_NONE);
	assert_int_equal(hs_table_stats(t)->resyncs, 2);
	sc_step(t, &b, HS_CLIENT, HS_TCP_ACK, 10, 2130, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED);

	/* Far beyond any window from both sides: a spoofer's numbers, not missed packets. */
	sc_conn_init(&d, HS_FAMILY_IPV4, 5, 40000, 2, 80);
	sc_open(t, &d, 3000);
	d.next[HS_CLIENT] += 1u << 30;
	d.next[HS_SERVER] += 1u << 30;
	sc_send(t, &d, HS_CLIENT, HS_TCP_ACK, 10, 3100, &res);
	assert_int_not_equal(res.invalid, HS_INVALID_NONE);
	sc_send(t, &d, HS_SERVER, HS_TCP_ACK, 10, 3110, &res);
	assert_int_not_equal(res.invalid, HS_INVALID_NONE);
	assert_int_equal(hs_table_stats(t)->resyncs, 2);
	sc_table_free(t);
}

/* A picked-up flow's first packet from the server side: both ESTABLISHED. */
static void test_pickup_from_server(void **state)
{
	(void)state;
	struct hs_table *t = sc_table(16, true, T_BASE);
	struct sc_conn c;
	struct hs_track_result res;

	sc_conn_init(&c, HS_FAMILY_IPV6, 3, 40001, 4, 443);
	sc_send(t, &c, HS_SERVER, HS_TCP_ACK | HS_TCP_PSH, 1000, T_BASE + 10, &res);
	assert_non_null(res.flow);
	assert_int_equal(res.invalid, HS_INVALID_NONE);
	assert_int_equal(res.hint, HS_HINT_ACCEPT);
	assert_int_equal(res.events & HS_EVENT_NEW, HS_EVENT_NEW);
	assert_int_equal(res.new_state[HS_CLIENT], HS_TCP_ESTABLISHED);
	assert_int_equal(res.new_state[HS_SERVER], HS_TCP_ESTABLISHED);
	assert_true(res.flow->flags & HS_FLOW_PICKED_UP);
	sc_step(t, &c, HS_CLIENT, HS_TCP_ACK, 0, T_BASE + 20, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED);
	sc_table_free(t);
}

/* ---- SYN options from the wire: any order, unknown kinds ----------------- */

/* Writes an IPv4 or IPv6 TCP segment with the given options and payload into buf; returns its length. */
static size_t wire_segment(uint8_t *buf, uint8_t family, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
			   uint8_t flags, uint32_t seq, uint32_t ack, const uint8_t *opts, size_t optlen,
			   size_t payload)
{
	size_t ip = family == HS_FAMILY_IPV4 ? 20 : 40, tcp = 20 + optlen, n = ip + tcp + payload;
	struct hs_addr a, b;

	assert_true(optlen % 4 == 0 && optlen <= 40);
	memset(buf, 0, n);
	sc_addr(family, src, &a);
	sc_addr(family, dst, &b);
	if (family == HS_FAMILY_IPV4) {
		buf[0] = 0x45;
		buf[2] = (uint8_t)(n >> 8);
		buf[3] = (uint8_t)n;
		buf[8] = 64;
		buf[9] = 6;
		memcpy(buf + 12, a.bytes, 4);
		memcpy(buf + 16, b.bytes, 4);
	} else {
		buf[0] = 0x60;
		buf[4] = (uint8_t)((tcp + payload) >> 8);
		buf[5] = (uint8_t)(tcp + payload);
		buf[6] = 6;
		buf[7] = 64;
		memcpy(buf + 8, a.bytes, 16);
		memcpy(buf + 24, b.bytes, 16);
	}
	uint8_t *t = buf + ip;
	const uint32_t words[2] = { seq, ack };
	t[0] = (uint8_t)(sport >> 8);
	t[1] = (uint8_t)sport;
	t[2] = (uint8_t)(dport >> 8);
	t[3] = (uint8_t)dport;
	for (int w = 0; w < 2; w++)
		for (int i = 0; i < 4; i++)
			t[4 + 4 * w + i] = (uint8_t)(words[w] >> (24 - 8 * i));
	t[12] = (uint8_t)((tcp / 4) << 4);
	t[13] = flags;
	t[14] = 0xff;
	t[15] = 0xff;
	if (optlen)
		memcpy(t + 20, opts, optlen);
	memset(t + tcp, 'x', payload);
	return n;
}

struct syn_options {
	const char *name;
	uint8_t bytes[40];
	size_t len;
	uint8_t wscale;             /* expected parse result */
	bool sack, timestamps;
	uint16_t mss;
};

/*
 * Option layouts real stacks send (Linux, BSD/macOS, Windows) and stranger
 * ones: MSS, SACK-permitted, timestamps and window scale in any order,
 * padded with NOPs or ended early by EOL, with unknown kinds among them
 * (a Fast Open cookie, MPTCP, an experimental option).
 */
static const struct syn_options syn_option_sets[] = {
	{ "linux", { 2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7 }, 20, 7, true, true, 1460 },
	{ "bsd", { 2, 4, 0x05, 0xb4, 1, 3, 3, 6, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 4, 2, 0, 0 }, 24, 6, true, true, 1460 },
	{ "windows", { 2, 4, 0x05, 0xb4, 1, 3, 3, 8, 1, 1, 4, 2 }, 12, 8, true, false, 1460 },
	{ "tfo_cookie_first", { 34, 10, 1, 2, 3, 4, 5, 6, 7, 8, 3, 3, 7, 4, 2, 2, 4, 0x05, 0xb4, 1 }, 20, 7, true, false, 1460 },
	{ "tfo_cookie_request", { 2, 4, 0x05, 0xb4, 34, 2, 1, 1, 3, 3, 9, 0 }, 12, 9, false, false, 1460 },
	{ "mptcp_and_experimental", { 30, 4, 0, 0x81, 253, 4, 0xf9, 0x89, 3, 3, 5, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 0, 4, 2, 2, 4, 0x21, 0x98 },
	  28, 5, true, true, 8600 },
	{ "eol_ends_early", { 2, 4, 0x05, 0xb4, 0, 3, 3, 7 }, 8, HS_WSCALE_NONE, false, false, 1460 },
	{ "wscale_above_14", { 3, 3, 15, 2, 4, 0x05, 0xb4, 0 }, 8, 14, false, false, 1460 },
	{ "none", { 0 }, 0, HS_WSCALE_NONE, false, false, 0 },
};

/* Every layout parses to the same facts and opens a valid connection, for either family, with SYN data or not. */
static void test_syn_option_orders(void **state)
{
	(void)state;
	uint8_t buf[256];
	static const uint8_t synack_opts[] = { 2, 4, 0x05, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7 };

	for (size_t i = 0; i < SC_ARRAY_SIZE(syn_option_sets); i++) {
		const struct syn_options *o = &syn_option_sets[i];

		for (int v = 0; v < 4; v++) {
			uint8_t family = v & 1 ? HS_FAMILY_IPV6 : HS_FAMILY_IPV4;
			size_t data = v & 2 ? 64 : 0;
			struct hs_table *t = sc_table(16, false, T_BASE);
			struct hs_packet pkt;
			struct hs_track_result res;
			size_t n = wire_segment(buf, family, 1, 2, CLIENT_PORT, SERVER_PORT, HS_TCP_SYN | HS_TCP_ECE |
						HS_TCP_CWR, 7000, 0, o->bytes, o->len, data);

			assert_int_equal(hs_packet_parse(buf, n, 0, &pkt), HS_PARSE_OK);
			if (pkt.wscale != o->wscale || pkt.sack_permitted != o->sack ||
			    pkt.has_timestamps != o->timestamps || pkt.mss != o->mss || pkt.payload_len != data)
				fail_msg("%s: parsed wscale %u sack %d ts %d mss %u data %u", o->name, pkt.wscale,
					 pkt.sack_permitted, pkt.has_timestamps, pkt.mss, pkt.payload_len);
			hs_table_track(t, &pkt, T_BASE, &res);
			assert_int_equal(res.invalid, HS_INVALID_NONE);

			n = wire_segment(buf, family, 2, 1, SERVER_PORT, CLIENT_PORT, HS_TCP_SYN | HS_TCP_ACK | HS_TCP_ECE,
					 90000, 7001 + (uint32_t)data, synack_opts, sizeof(synack_opts), 0);
			assert_int_equal(hs_packet_parse(buf, n, 0, &pkt), HS_PARSE_OK);
			hs_table_track(t, &pkt, T_BASE + 1, &res);
			assert_int_equal(res.invalid, HS_INVALID_NONE);
			assert_int_equal(res.new_state[HS_SERVER], HS_TCP_SYN_RCVD);

			/* The shift is used only if both SYNs carried it. */
			n = wire_segment(buf, family, 1, 2, CLIENT_PORT, SERVER_PORT, HS_TCP_ACK, 7001 + (uint32_t)data, 90001,
					 NULL, 0, 0);
			assert_int_equal(hs_packet_parse(buf, n, 0, &pkt), HS_PARSE_OK);
			hs_table_track(t, &pkt, T_BASE + 2, &res);
			assert_int_equal(res.invalid, HS_INVALID_NONE);
			assert_int_equal(res.new_state[HS_CLIENT], HS_TCP_ESTABLISHED);
			assert_int_equal(hs_flow_wscale(res.flow, HS_CLIENT), o->wscale == HS_WSCALE_NONE ? 0 : o->wscale);
			assert_int_equal(hs_flow_wscale(res.flow, HS_SERVER), o->wscale == HS_WSCALE_NONE ? 0 : 7);
			assert_int_equal(hs_table_stats(t)->syn_with_data, data ? 1 : 0);
			sc_table_free(t);
		}
	}
}

static void test_state_names(void **state)
{
	(void)state;
	assert_string_equal(hs_tcp_state_name(HS_TCP_SYN_SENT), "SYN_SENT");
	assert_string_equal(hs_tcp_state_name(HS_TCP_TIME_WAIT), "TIME_WAIT");
	assert_string_equal(hs_tcp_state_name(HS_TCP_CLOSE_WAIT), "CLOSE_WAIT");
	for (int s = 0; s < HS_TCP_STATE_COUNT; s++)
		assert_int_equal(hs_tcp_state_parse(hs_tcp_state_name((enum hs_tcp_state)s)), s);
	assert_int_equal(hs_tcp_state_parse("time-wait"), HS_TCP_TIME_WAIT);
	assert_int_equal(hs_tcp_state_parse("established"), HS_TCP_ESTABLISHED);
	assert_int_equal(hs_tcp_state_parse("bogus"), -1);
	assert_int_equal(hs_tcp_state_parse(""), -1);
	for (int r = 0; r < HS_INVALID_REASON_COUNT; r++)
		assert_non_null(hs_invalid_reason_name((enum hs_invalid_reason)r));
	for (int c = 0; c < HS_TIMEOUT_CLASS_COUNT; c++)
		assert_non_null(hs_timeout_class_name((enum hs_timeout_class)c));
}

int main(void)
{
	enum { NSCEN = SC_ARRAY_SIZE(scenarios) };
	struct CMUnitTest tests[NSCEN + 7];
	size_t n = 0;

	memset(tests, 0, sizeof(tests));
	for (size_t i = 0; i < NSCEN; i++) {
		tests[n].name = scenarios[i].name;
		tests[n].test_func = run_scenario;
		tests[n].teardown_func = sc_teardown;
		tests[n].initial_state = (void *)(uintptr_t)&scenarios[i];
		n++;
	}
	tests[n++] = (struct CMUnitTest)cmocka_unit_test_teardown(test_no_pickup, sc_teardown);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test_teardown(test_rst_never_creates, sc_teardown);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test_teardown(test_bad_flags_no_flow, sc_teardown);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test_teardown(test_pickup_from_server, sc_teardown);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test_teardown(test_resync_after_missed_packets, sc_teardown);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test_teardown(test_syn_option_orders, sc_teardown);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test_teardown(test_state_names, sc_teardown);
	return _cmocka_run_group_tests("scenarios", tests, n, NULL, NULL);
}
