/*
 * scenario: small helpers shared by the table-driven unit tests of the
 * tracking core (test_scenarios.c, test_table.c).  They build struct
 * hs_packet values directly (no bytes, no parser), make tables with fixed
 * keys and default timeouts, and drive well-formed connections through
 * hs_table_track with sequence numbers kept per endpoint.
 */
#ifndef TESTS_UNIT_SCENARIO_H
#define TESTS_UNIT_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs_table.h"

#define SC_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* IP + TCP header bytes the helpers put in wire_len besides the payload. */
#define SC_HEADERS_V4 40u
#define SC_HEADERS_V6 60u

/* 10.H.H.H for IPv4, fd00::HHHH:HHHH for IPv6, from a 32-bit host number. */
void sc_addr(uint8_t family, uint32_t host, struct hs_addr *addr);

/* Default timeouts, a fixed hash key, ids from 1. */
void sc_config(struct hs_table_config *cfg, uint32_t max_flows, bool pickup);
/*
 * Creates a table (asserting success) at now_ms.  Tables and memory from
 * sc_alloc are remembered until sc_table_free / sc_free, so that the
 * sc_teardown of a test that failed half-way (cmocka jumps out) releases
 * them and the sanitizer reports no leaks.
 */
struct hs_table *sc_table(uint32_t max_flows, bool pickup, uint64_t now_ms);
void sc_table_free(struct hs_table *t);
void *sc_alloc(size_t size);        /* zeroed */
void sc_free(void *p);
int sc_teardown(void **state);

/*
 * The bytes of a flow key the table hashes, in the order it hashes them:
 * both addresses (4 or 16 bytes each), both ports, the family.  The tests'
 * model of the index (a reference for hs_flow_hash, an attacker's view of
 * the buckets) computes the generic SipHash over these.  Returns the count.
 */
#define SC_KEY_BYTES_MAX (2 * 16 + 2 * 2 + 1)
size_t sc_key_bytes(const struct hs_flow_key *key, uint8_t family, uint8_t out[SC_KEY_BYTES_MAX]);

/* Resident memory of this process in bytes (/proc/self/statm; asserts it can be read). */
uint64_t sc_resident_bytes(void);

/* A packet with every field set; wscale is HS_WSCALE_NONE or the option value. */
void sc_packet(struct hs_packet *pkt, uint8_t family, const struct hs_addr *src, uint16_t sport,
	       const struct hs_addr *dst, uint16_t dport, uint8_t flags, uint32_t seq, uint32_t ack,
	       uint16_t window, uint8_t wscale, uint32_t payload_len);

/* One connection's endpoints and the next sequence number each will send. */
struct sc_conn {
	uint8_t family;
	struct hs_addr addr[2];     /* by enum hs_side */
	uint16_t port[2];
	uint32_t isn[2];
	uint32_t next[2];
	uint16_t window;
};

void sc_conn_init(struct sc_conn *c, uint8_t family, uint32_t client_host, uint16_t client_port,
		  uint32_t server_host, uint16_t server_port);
/* The packet `from` would send next: its next seq, acking the peer's next. */
void sc_conn_packet(const struct sc_conn *c, enum hs_side from, uint8_t flags, uint32_t len,
		    struct hs_packet *pkt);
/* The canonical key of the connection. */
void sc_conn_key(const struct sc_conn *c, struct hs_flow_key *key);
/* Looks the connection up (NULL if it is not in the table). */
struct hs_flow *sc_conn_lookup(struct hs_table *t, const struct sc_conn *c);

/*
 * Sends the next packet of `from` at now_ms through hs_table_track; when it
 * is valid, advances the sender's next sequence number by the space it
 * used.  Returns result.flow.
 */
struct hs_flow *sc_send(struct hs_table *t, struct sc_conn *c, enum hs_side from, uint8_t flags,
			uint32_t len, uint64_t now_ms, struct hs_track_result *res);

/* Like sc_send, and asserts the packet was valid and the resulting states. */
struct hs_flow *sc_step(struct hs_table *t, struct sc_conn *c, enum hs_side from, uint8_t flags,
			uint32_t len, uint64_t now_ms, enum hs_tcp_state client, enum hs_tcp_state server);

/* A client SYN: SYN_SENT / LISTEN. */
struct hs_flow *sc_syn(struct hs_table *t, struct sc_conn *c, uint64_t now_ms);
/* SYN, SYN-ACK, ACK at now_ms: ESTABLISHED / ESTABLISHED. */
struct hs_flow *sc_open(struct hs_table *t, struct sc_conn *c, uint64_t now_ms);
/* From ESTABLISHED: client FIN, server FIN+ACK, client ACK: TIME_WAIT / CLOSED. */
struct hs_flow *sc_close(struct hs_table *t, struct sc_conn *c, uint64_t now_ms);

#endif
