/*
 * hs_metrics: the daemon's counters in the Prometheus text exposition
 * format (version 0.0.4).  It owns the snapshot that the numbers are
 * gathered into, the collector that fills it from a running daemon (each
 * worker's lock held only for short copies), and the formatter, a pure
 * function from a snapshot to text, which the unit tests drive directly.
 * Both `handshakectl metrics` and the HTTP listener serve that text.
 */
#ifndef HS_METRICS_H
#define HS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs_drop_pcap.h"
#include "hs_state_store.h"
#include "hs_addr_watch.h"
#include "hs_packet.h"
#include "hs_policy.h"
#include "hs_policy_engine.h"
#include "hs_rst_send.h"
#include "hs_tcp_state.h"
#include "hs_watch.h"
#include "hs_worker.h"

/* A queue's own numbers: the worker's and the kernel's. */
struct hs_metrics_queue {
	uint16_t queue;
	uint64_t packets;
	uint64_t bursts;
	uint64_t enobufs, recv_errors, send_errors;
	uint64_t malformed;                             /* queue messages that held no usable packet */
	uint64_t loop_max_us;                           /* longest burst timed so far */
	uint64_t burst_us_buckets[HS_BURST_BUCKETS];    /* not cumulative, as the worker keeps them */
	uint64_t burst_us_sum;
	bool kernel_found;                              /* the queue is in /proc/net/netfilter/nfnetlink_queue */
	uint64_t kernel_waiting, kernel_dropped, kernel_user_dropped;
};

struct hs_metrics_policy {
	char name[HS_POLICY_NAME_MAX];
	struct hs_policy_counters counters;
};

struct hs_metrics_snapshot {
	uint64_t uptime_ms;
	uint64_t reloads, reload_failures;
	/* packets (all queues) */
	uint64_t packets, accepted, dropped, policy_dropped, not_tcp, fragments, invalid;
	uint64_t own_packets;                                    /* the daemon's own RSTs, seen in its queues */
	uint64_t loopback_repeats;                               /* looped-back packets seen again on their way in */
	uint64_t invalid_by_reason[HS_INVALID_REASON_COUNT];     /* index 0 (none) unused */
	uint64_t malformed_by_reason[HS_PARSE_RESULT_COUNT];     /* below HS_PARSE_EMPTY unused */
	/* flows (all tables) */
	uint32_t flows_live, flows_half_open, capacity;
	uint32_t flows_by_state[2][HS_TCP_STATE_COUNT];          /* [enum hs_side][enum hs_tcp_state] */
	uint32_t local_by_state[HS_TCP_STATE_COUNT];             /* the host's own endpoints (end host) */
	uint64_t flows_created, flows_expired, flows_deleted, flows_reopened;
	uint64_t evicted_half_open, evicted_established;
	uint64_t untracked_table_full;
	uint64_t flows_resynced;                                 /* windows caught up after missed packets */
	uint64_t syn_with_data;                                  /* SYNs and SYN-ACKs carrying data (Fast Open) */
	uint64_t events_lost;
	bool drop_pcap_on;                                       /* log.pcap is set */
	struct hs_drop_pcap_stats drop_pcap;
	bool state_on;                                           /* state.dir is set: snapshots */
	struct hs_state_stats state;
	/* the host's addresses (rtnetlink) */
	bool addrs_read;                                         /* read at least once */
	uint32_t local_addresses;                                /* entries in the set now */
	struct hs_addr_watch_stats addr_watch;
	/* RSTs (all workers' senders) */
	struct hs_rst_stats rst;
	uint64_t rst_waiting;                                    /* refused for now, waiting to be offered again */
	uint64_t rst_deferred;                                   /* timed resets put off a tick for want of room */
	/* policies, in file order */
	uint64_t policy_counts_full;                             /* limit increments lost to a full count table */
	/* memory the tables may hold (upper bounds on what is resident), all queues */
	uint64_t memory_flows, memory_index, memory_policies;
	uint32_t npolicies;
	struct hs_metrics_policy policies[HS_POLICY_MAX];
	/* handshakectl watch */
	struct hs_watch_stats watch;
	/* queues */
	uint32_t nqueues;
	struct hs_metrics_queue *queues;                        /* nqueues entries */
};

/*
 * Formats a snapshot as Prometheus text: every family with its # HELP and
 * # TYPE lines, label values escaped.  Returns a malloc'd, NUL-terminated
 * text (its length in *len), or NULL if memory ran out.  No I/O, no clock:
 * the output depends on the snapshot alone.
 */
char *hs_metrics_format(const struct hs_metrics_snapshot *s, size_t *len);

/*
 * Fills a snapshot (cleared first) with the workers' numbers; the daemon
 * adds its own (uptime, reloads, addresses: hs_daemon_snapshot).
 * s->queues is allocated here (NULL if memory ran out: the per-queue
 * families are then left out); free it with hs_metrics_snapshot_free.
 * With by_state, flows are also counted by state, which walks each table in
 * chunks, releasing the worker's lock between them; without it
 * flows_by_state stays zero and only counters are read.
 */
void hs_metrics_collect_workers(struct hs_worker *const *workers, uint32_t n, struct hs_metrics_snapshot *s,
				bool by_state);
void hs_metrics_snapshot_free(struct hs_metrics_snapshot *s);

/* The kernel's counters of one queue, from /proc/net/netfilter/nfnetlink_queue. */
struct hs_queue_proc {
	bool found;
	uint64_t waiting;           /* packets waiting for a verdict now */
	uint64_t dropped;           /* dropped because the queue was full */
	uint64_t user_dropped;      /* dropped because the socket buffer was full */
};
struct hs_queue_proc hs_queue_proc_read(uint16_t queue);

/*
 * That file is readable by root only (mode 0440), and the daemon does not
 * run as root under systemd.  The unit has systemd open it as the
 * service's standard input (StandardInput=file:...) before dropping
 * privileges; this adopts such a descriptor for hs_queue_proc_read and
 * points standard input at /dev/null.  Returns true if stdin was that file.
 */
bool hs_queue_proc_adopt_stdin(void);

#endif
