/*
 * hs_addr_watch: the host's own addresses, read from the kernel.  It owns a
 * rtnetlink socket subscribed to address changes (RTM_NEWADDR and
 * RTM_DELADDR, both families), the RTM_GETADDR dump that fills the set at
 * start and whenever notifications were lost, and the master copy of the
 * set, which the daemon hands to every worker's table.  It runs on the main
 * thread's event loop, never on the packet path.
 */
#ifndef HS_ADDR_WATCH_H
#define HS_ADDR_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs_local_addrs.h"

struct nlmsghdr;
struct mnl_socket;

struct hs_addr_watch_stats {
	uint64_t changes;           /* additions and removals applied to the set */
	uint64_t resyncs;           /* read again whole: notifications were lost (ENOBUFS), or room was made */
	uint64_t errors;            /* failed reads, failed dumps, malformed messages */
	uint64_t untracked;         /* addresses left out because the set was full */
};

struct hs_addr_watch {
	struct mnl_socket *events;  /* subscribed to the address groups */
	struct mnl_socket *dump;    /* requests RTM_GETADDR dumps */
	uint32_t dump_seq;
	bool read_once;             /* a dump has succeeded: the set is the host's */
	bool full;                  /* an address was left out: re-read when one leaves */
	struct hs_local_addrs set;
	struct hs_addr_watch_stats stats;
};

/*
 * Subscribes to address changes, then reads every address.  Returns 0, or
 * -1 with err written; the watch is then closed and its set empty.
 */
int hs_addr_watch_open(struct hs_addr_watch *w, char *err, size_t errlen);
void hs_addr_watch_close(struct hs_addr_watch *w);

/* The descriptor to wait on for notifications (-1 when not open). */
int hs_addr_watch_fd(const struct hs_addr_watch *w);

/*
 * Applies every pending notification without blocking; after lost
 * notifications, reads the whole set again.  Returns true if the set
 * changed.
 */
bool hs_addr_watch_dispatch(struct hs_addr_watch *w);

/*
 * The entry an RTM_NEWADDR or RTM_DELADDR message describes: the local
 * address (IFA_LOCAL, or IFA_ADDRESS when there is no IFA_LOCAL: on a
 * point-to-point link IFA_ADDRESS is the peer's), one address, except an
 * IPv4 address on the loopback device, which makes its whole prefix local.
 * False for other messages and for malformed ones.  Pure: exposed for the
 * unit tests.
 */
bool hs_addr_watch_parse(const struct nlmsghdr *nlh, struct hs_local_addr *out);

#endif
