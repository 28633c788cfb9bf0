/*
 * scenario: helpers shared by the tracking-core unit tests (see scenario.h):
 * packet construction without bytes, fixed-key tables, and well-formed
 * connections driven through hs_table_track.
 */
#include "scenario.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

void sc_addr(uint8_t family, uint32_t host, struct hs_addr *addr)
{
	memset(addr, 0, sizeof(*addr));
	if (family == HS_FAMILY_IPV4) {
		addr->bytes[0] = 10;
		addr->bytes[1] = (uint8_t)(host >> 16);
		addr->bytes[2] = (uint8_t)(host >> 8);
		addr->bytes[3] = (uint8_t)host;
	} else {
		addr->bytes[0] = 0xfd;
		addr->bytes[12] = (uint8_t)(host >> 24);
		addr->bytes[13] = (uint8_t)(host >> 16);
		addr->bytes[14] = (uint8_t)(host >> 8);
		addr->bytes[15] = (uint8_t)host;
	}
}

void sc_config(struct hs_table_config *cfg, uint32_t max_flows, bool pickup)
{
	static const uint32_t timeouts[HS_TIMEOUT_CLASS_COUNT] = HS_DEFAULT_TIMEOUTS_MS;

	memset(cfg, 0, sizeof(*cfg));
	cfg->max_flows = max_flows;
	cfg->pickup = pickup;
	memcpy(cfg->timeout_ms, timeouts, sizeof(timeouts));
	for (int i = 0; i < 16; i++)
		cfg->hash_key[i] = (uint8_t)(0x5a ^ (i * 37));
}

#define SC_OWNED_MAX 16

static struct hs_table *owned_tables[SC_OWNED_MAX];
static void *owned_mem[SC_OWNED_MAX];

static void own(void **slots, void *p)
{
	for (int i = 0; i < SC_OWNED_MAX; i++) {
		if (!slots[i]) {
			slots[i] = p;
			return;
		}
	}
	fail_msg("scenario.c: more than %d live tables or blocks", SC_OWNED_MAX);
}

static void disown(void **slots, const void *p)
{
	for (int i = 0; i < SC_OWNED_MAX; i++) {
		if (slots[i] == p) {
			slots[i] = NULL;
			return;
		}
	}
}

struct hs_table *sc_table(uint32_t max_flows, bool pickup, uint64_t now_ms)
{
	struct hs_table_config cfg;

	sc_config(&cfg, max_flows, pickup);
	struct hs_table *t = hs_table_create(&cfg, now_ms);
	assert_non_null(t);
	own((void **)owned_tables, t);
	return t;
}

void sc_table_free(struct hs_table *t)
{
	disown((void **)owned_tables, t);
	hs_table_destroy(t);
}

void *sc_alloc(size_t size)
{
	void *p = calloc(1, size);

	assert_non_null(p);
	own(owned_mem, p);
	return p;
}

void sc_free(void *p)
{
	disown(owned_mem, p);
	free(p);
}

int sc_teardown(void **state)
{
	(void)state;
	for (int i = 0; i < SC_OWNED_MAX; i++) {
		if (owned_tables[i])
			hs_table_destroy(owned_tables[i]);
		owned_tables[i] = NULL;
		free(owned_mem[i]);
		owned_mem[i] = NULL;
	}
	return 0;
}

void sc_packet(struct hs_packet *pkt, uint8_t family, const struct hs_addr *src, uint16_t sport,
	       const struct hs_addr *dst, uint16_t dport, uint8_t flags, uint32_t seq, uint32_t ack,
	       uint16_t window, uint8_t wscale, uint32_t payload_len)
{
	memset(pkt, 0, sizeof(*pkt));
	pkt->family = family;
	pkt->flags = flags;
	pkt->wscale = wscale;
	pkt->ip_header_len = family == HS_FAMILY_IPV4 ? 20 : 40;
	pkt->tcp_header_len = 20;
	pkt->src = *src;
	pkt->dst = *dst;
	pkt->sport = sport;
	pkt->dport = dport;
	pkt->seq = seq;
	pkt->ack = ack;
	pkt->window = window;
	pkt->payload_len = payload_len;
	pkt->wire_len = payload_len + (family == HS_FAMILY_IPV4 ? SC_HEADERS_V4 : SC_HEADERS_V6);
}

void sc_conn_init(struct sc_conn *c, uint8_t family, uint32_t client_host, uint16_t client_port,
		  uint32_t server_host, uint16_t server_port)
{
	memset(c, 0, sizeof(*c));
	c->family = family;
	sc_addr(family, client_host, &c->addr[HS_CLIENT]);
	sc_addr(family, server_host, &c->addr[HS_SERVER]);
	c->port[HS_CLIENT] = client_port;
	c->port[HS_SERVER] = server_port;
	/* Distinct, spread ISNs per connection, so windows of different flows differ. */
	c->isn[HS_CLIENT] = 1000u + client_port * 7919u + client_host * 104729u;
	c->isn[HS_SERVER] = 5000u + server_port * 15485863u + client_port * 31u;
	c->next[HS_CLIENT] = c->isn[HS_CLIENT];
	c->next[HS_SERVER] = c->isn[HS_SERVER];
	c->window = 65535;
}

void sc_conn_packet(const struct sc_conn *c, enum hs_side from, uint8_t flags, uint32_t len,
		    struct hs_packet *pkt)
{
	enum hs_side to = from == HS_CLIENT ? HS_SERVER : HS_CLIENT;
	uint32_t ack = (flags & HS_TCP_ACK) ? c->next[to] : 0;

	sc_packet(pkt, c->family, &c->addr[from], c->port[from], &c->addr[to], c->port[to], flags,
		  c->next[from], ack, c->window, HS_WSCALE_NONE, len);
}

size_t sc_key_bytes(const struct hs_flow_key *key, uint8_t family, uint8_t out[SC_KEY_BYTES_MAX])
{
	size_t alen = family == HS_FAMILY_IPV6 ? 16 : 4, n = 0;

	memcpy(out + n, key->addr[0].bytes, alen);
	n += alen;
	memcpy(out + n, key->addr[1].bytes, alen);
	n += alen;
	memcpy(out + n, key->port, sizeof(key->port));
	n += sizeof(key->port);
	out[n++] = family;
	return n;
}

void sc_conn_key(const struct sc_conn *c, struct hs_flow_key *key)
{
	struct hs_packet pkt;
	bool src_is_0;

	sc_conn_packet(c, HS_CLIENT, HS_TCP_ACK, 0, &pkt);
	memset(key, 0, sizeof(*key));
	hs_flow_key_from_packet(&pkt, key, &src_is_0);
}

struct hs_flow *sc_conn_lookup(struct hs_table *t, const struct sc_conn *c)
{
	struct hs_flow_key key;

	sc_conn_key(c, &key);
	return hs_table_lookup(t, &key);
}

struct hs_flow *sc_send(struct hs_table *t, struct sc_conn *c, enum hs_side from, uint8_t flags,
			uint32_t len, uint64_t now_ms, struct hs_track_result *res)
{
	struct hs_packet pkt;

	sc_conn_packet(c, from, flags, len, &pkt);
	hs_table_track(t, &pkt, now_ms, res);
	if (res->invalid == HS_INVALID_NONE) {
		c->next[from] += len;
		if (flags & HS_TCP_SYN)
			c->next[from]++;
		if (flags & HS_TCP_FIN)
			c->next[from]++;
	}
	return res->flow;
}

struct hs_flow *sc_step(struct hs_table *t, struct sc_conn *c, enum hs_side from, uint8_t flags,
			uint32_t len, uint64_t now_ms, enum hs_tcp_state client, enum hs_tcp_state server)
{
	struct hs_track_result res;
	struct hs_flow *f = sc_send(t, c, from, flags, len, now_ms, &res);

	assert_non_null(f);
	assert_string_equal(hs_invalid_reason_name(res.invalid), hs_invalid_reason_name(HS_INVALID_NONE));
	assert_string_equal(hs_tcp_state_name(res.new_state[HS_CLIENT]), hs_tcp_state_name(client));
	assert_string_equal(hs_tcp_state_name(res.new_state[HS_SERVER]), hs_tcp_state_name(server));
	assert_int_equal(f->state[HS_CLIENT], client);
	assert_int_equal(f->state[HS_SERVER], server);
	return f;
}

struct hs_flow *sc_syn(struct hs_table *t, struct sc_conn *c, uint64_t now_ms)
{
	return sc_step(t, c, HS_CLIENT, HS_TCP_SYN, 0, now_ms, HS_TCP_SYN_SENT, HS_TCP_LISTEN);
}

struct hs_flow *sc_open(struct hs_table *t, struct sc_conn *c, uint64_t now_ms)
{
	sc_syn(t, c, now_ms);
	sc_step(t, c, HS_SERVER, HS_TCP_SYN | HS_TCP_ACK, 0, now_ms, HS_TCP_SYN_SENT, HS_TCP_SYN_RCVD);
	return sc_step(t, c, HS_CLIENT, HS_TCP_ACK, 0, now_ms, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED);
}

struct hs_flow *sc_close(struct hs_table *t, struct sc_conn *c, uint64_t now_ms)
{
	sc_step(t, c, HS_CLIENT, HS_TCP_FIN | HS_TCP_ACK, 0, now_ms, HS_TCP_FIN_WAIT_1, HS_TCP_CLOSE_WAIT);
	sc_step(t, c, HS_SERVER, HS_TCP_FIN | HS_TCP_ACK, 0, now_ms, HS_TCP_TIME_WAIT, HS_TCP_LAST_ACK);
	return sc_step(t, c, HS_CLIENT, HS_TCP_ACK, 0, now_ms, HS_TCP_TIME_WAIT, HS_TCP_CLOSED);
}

uint64_t sc_resident_bytes(void)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%lu %lu", &size, &resident), 2);
	fclose(f);
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}
