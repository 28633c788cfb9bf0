/*
 * bench_flows: the synthetic connections the core benchmarks track
 * (bench_core, bench_snapshot, bench_query): flow i's client is
 * 10.a.b.c:port with the address and port spread over i, its packets are
 * built as the parser would leave them, and tables get a random hash key
 * and the default timeouts, with pickup on.
 */
#ifndef HS_BENCH_FLOWS_H
#define HS_BENCH_FLOWS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hs_table.h"

#define CLIENT_ISN 1000u
#define SERVER_ISN 5000000u

/* A packet of flow i between its client and the server at server_addr:server_port. */
static inline void bench_packet(struct hs_packet *p, uint32_t i, const uint8_t server_addr[4], uint16_t server_port,
				bool from_client, uint8_t flags, uint32_t seq, uint32_t ack, uint32_t len)
{
	uint8_t client[4] = { 10, (uint8_t)(i >> 14), (uint8_t)(i >> 6), (uint8_t)(i & 0x3f) };
	uint16_t cport = (uint16_t)(20000 + (i & 0x3fff));

	memset(p, 0, sizeof(*p));
	p->family = HS_FAMILY_IPV4;
	p->flags = flags;
	p->wscale = HS_WSCALE_NONE;
	p->window = 65535;
	p->seq = seq;
	p->ack = ack;
	p->payload_len = len;
	p->wire_len = 40 + len;
	memcpy(from_client ? p->src.bytes : p->dst.bytes, client, 4);
	memcpy(from_client ? p->dst.bytes : p->src.bytes, server_addr, 4);
	p->sport = from_client ? cport : server_port;
	p->dport = from_client ? server_port : cport;
}

/* A packet of flow i, whose server is 10.255.0.1:80. */
static inline void bench_flow_packet(struct hs_packet *p, uint32_t i, bool from_client, uint8_t flags, uint32_t seq,
				     uint32_t ack, uint32_t len)
{
	static const uint8_t server[4] = { 10, 255, 0, 1 };

	bench_packet(p, i, server, 80, from_client, flags, seq, ack, len);
}

/* A function that tracks one packet: hs_table_track, or one build's copy of it (ab_core). */
typedef void bench_track_fn(struct hs_table *t, const struct hs_packet *pkt, uint64_t now_ms,
			    struct hs_track_result *res);

/* Flow i's three-way handshake at ms through track; true if the server ended ESTABLISHED. */
static inline bool bench_flow_handshake(bench_track_fn *track, struct hs_table *t, uint32_t i, uint64_t ms)
{
	struct hs_packet p;
	struct hs_track_result r;

	bench_flow_packet(&p, i, true, HS_TCP_SYN, CLIENT_ISN, 0, 0);
	track(t, &p, ms, &r);
	bench_flow_packet(&p, i, false, HS_TCP_SYN | HS_TCP_ACK, SERVER_ISN, CLIENT_ISN + 1, 0);
	track(t, &p, ms, &r);
	bench_flow_packet(&p, i, true, HS_TCP_ACK, CLIENT_ISN + 1, SERVER_ISN + 1, 0);
	track(t, &p, ms, &r);
	return r.new_state[HS_SERVER] == HS_TCP_ESTABLISHED;
}

/*
 * A pure ACK of flow i from one side after its handshake, when neither
 * side has sent data: valid against the tracked windows, so the full
 * window checks run and no state changes.
 */
static inline void bench_flow_ack(struct hs_packet *p, uint32_t i, bool from_client)
{
	bench_flow_packet(p, i, from_client, HS_TCP_ACK, from_client ? CLIENT_ISN + 1 : SERVER_ISN + 1,
			  from_client ? SERVER_ISN + 1 : CLIENT_ISN + 1, 0);
}

/* A table of max_flows with a random hash key, the default timeouts and pickup (NULL on failure). */
static inline struct hs_table *bench_table(uint32_t max_flows)
{
	struct hs_table_config cfg = { .max_flows = max_flows, .pickup = true,
				       .timeout_ms = HS_DEFAULT_TIMEOUTS_MS };

	for (int i = 0; i < 16; i++)
		cfg.hash_key[i] = (uint8_t)(rand() & 0xff);
	return hs_table_create(&cfg, 0);
}

#endif
