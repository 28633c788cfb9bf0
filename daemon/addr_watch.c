/*
 * addr_watch: the host's addresses over rtnetlink (see hs_addr_watch.h).
 *
 * Two sockets: one subscribed to the IPv4 and IPv6 address groups before
 * anything is read, one for RTM_GETADDR dumps.  Subscribing first means no
 * change can fall between the dump and the first notification; a
 * notification that repeats what the dump already said is harmless,
 * because adding a present address and removing an absent one change
 * nothing, and notifications are applied in the order the kernel sent
 * them, so the last word on each address wins.
 *
 * Only a gap breaks that argument: when the kernel drops notifications
 * (ENOBUFS on the subscribed socket), whatever is still queued may be
 * older than what was lost.  The queue is then emptied unread and the
 * whole set read again; notifications arriving from then on are in order
 * again.
 */
#include "hs_addr_watch.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <libmnl/libmnl.h>

#include "hs_flow.h"
#include "hs_log.h"

/*
 * The loopback device has this index in every network namespace (the
 * kernel's LOOPBACK_IFINDEX): it is registered first, and its index is
 * fixed.  An IPv4 address there makes its whole prefix local (the kernel
 * adds a "local" route for the prefix, not a unicast one), which is how all
 * of 127.0.0.0/8 answers on a host with 127.0.0.1/8.
 */
#define LOOPBACK_IFINDEX 1

/* A dump never waits longer than this for the kernel: it answers at once. */
#define DUMP_TIMEOUT_MS 1000

/*
 * Room for one datagram: the kernel fills a dump's datagrams up to 32 KiB
 * at most, and a smaller buffer would truncate them (ENOSPC from libmnl).
 */
#define NL_BUFFER 32768

/* Datagrams thrown away at most after a gap, before the set is read again. */
#define DRAIN_MAX 4096

/* The subscribed socket's receive buffer: room for a burst of changes (a VPN coming up). */
#define EVENTS_RCVBUF (1 << 20)

bool hs_addr_watch_parse(const struct nlmsghdr *nlh, struct hs_local_addr *out)
{
	if (nlh->nlmsg_type != RTM_NEWADDR && nlh->nlmsg_type != RTM_DELADDR)
		return false;
	if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(struct ifaddrmsg))
		return false;
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	size_t alen;

	memset(out, 0, sizeof(*out));
	if (ifa->ifa_family == AF_INET) {
		out->family = HS_FAMILY_IPV4;
		alen = 4;
	} else if (ifa->ifa_family == AF_INET6) {
		out->family = HS_FAMILY_IPV6;
		alen = 16;
	} else {
		return false;
	}
	const struct nlattr *local = NULL, *address = NULL;
	const char *tail = mnl_nlmsg_get_payload_tail(nlh);
	/*
	 * mnl_attr_for_each written out: the macro casts the attribute to a
	 * plain char *, which clang's -Wcast-qual refuses for a const one.
	 */
	for (const struct nlattr *attr = mnl_nlmsg_get_payload_offset(nlh, sizeof(*ifa));
	     mnl_attr_ok(attr, (int)(tail - (const char *)attr)); attr = mnl_attr_next(attr)) {
		uint16_t type = mnl_attr_get_type(attr);

		if (type != IFA_LOCAL && type != IFA_ADDRESS)
			continue;
		if (mnl_attr_get_payload_len(attr) != alen)
			return false;
		if (type == IFA_LOCAL)
			local = attr;
		else
			address = attr;
	}
	/* mnl_attr_for_each stops at the first attribute that does not fit: the rest is ignored. */
	const struct nlattr *use = local ? local : address;
	if (!use)
		return false;
	memcpy(out->addr.bytes, mnl_attr_get_payload(use), alen);
	out->ifindex = ifa->ifa_index;
	out->prefix = (uint8_t)(alen * 8);
	if (out->family == HS_FAMILY_IPV4 && ifa->ifa_index == LOOPBACK_IFINDEX && ifa->ifa_prefixlen < 32)
		out->prefix = ifa->ifa_prefixlen;
	return true;
}

/*
 * Applies one message to set.  A notification (live) is a change of the
 * host's addresses and counted as one; a dump only rebuilds the set.
 */
static void apply(struct hs_addr_watch *w, struct hs_local_addrs *set, const struct nlmsghdr *nlh, bool live,
		  bool *changed)
{
	struct hs_local_addr e;
	char text[64];

	if (!hs_addr_watch_parse(nlh, &e)) {
		if (nlh->nlmsg_type == RTM_NEWADDR || nlh->nlmsg_type == RTM_DELADDR)
			w->stats.errors++;
		return;
	}
	bool add = nlh->nlmsg_type == RTM_NEWADDR;
	enum hs_local_addrs_result r = add ? hs_local_addrs_add(set, &e) : hs_local_addrs_remove(set, &e);

	switch (r) {
	case HS_LOCAL_ADDRS_CHANGED:
		*changed = true;
		if (!live)
			break;
		w->stats.changes++;
		log_debug("local address %s: %s/%u on interface %u", add ? "added" : "removed",
			  hs_addr_format(&e.addr, e.family, text, sizeof(text)), e.prefix, e.ifindex);
		break;
	case HS_LOCAL_ADDRS_FULL:
		w->stats.untracked++;
		if (!w->full)
			log_warnx("more local addresses than the %u (and %u local prefixes) tracked: %s is not "
				  "recognised as local", HS_LOCAL_ADDRS_MAX, HS_LOCAL_NETS_MAX,
				  hs_addr_format(&e.addr, e.family, text, sizeof(text)));
		w->full = true;
		break;
	case HS_LOCAL_ADDRS_INVALID:
		w->stats.errors++;
		break;
	case HS_LOCAL_ADDRS_UNCHANGED:
		break;
	}
}

struct dump_ctx {
	struct hs_addr_watch *w;
	struct hs_local_addrs *set;
	bool changed;
};

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *ctx = data;

	apply(ctx->w, ctx->set, nlh, false, &ctx->changed);
	return MNL_CB_OK;
}

/* Reads every address into a fresh set and makes it current; false if the dump failed. */
static bool read_all(struct hs_addr_watch *w, bool *changed)
{
	struct hs_local_addrs fresh;
	char buf[NL_BUFFER];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	uint32_t portid = mnl_socket_get_portid(w->dump);
	struct dump_ctx ctx = { .w = w, .set = &fresh };

	hs_local_addrs_init(&fresh);
	w->full = false;
	nlh->nlmsg_type = RTM_GETADDR;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = ++w->dump_seq;
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_UNSPEC;
	if (mnl_socket_sendto(w->dump, nlh, nlh->nlmsg_len) < 0)
		goto failed;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(w->dump, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto failed;
		int rc = mnl_cb_run(buf, (size_t)n, w->dump_seq, portid, dump_cb, &ctx);
		if (rc == MNL_CB_STOP)
			break;
		if (rc < 0)
			goto failed;
	}
	*changed = !hs_local_addrs_equal(&fresh, &w->set);
	w->set = fresh;
	w->read_once = true;
	return true;
failed:
	w->stats.errors++;
	log_warn("reading the local addresses (rtnetlink RTM_GETADDR)");
	return false;
}

static struct mnl_socket *open_socket(unsigned groups, char *err, size_t errlen)
{
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | (groups ? SOCK_NONBLOCK : 0));

	if (!nl) {
		snprintf(err, errlen, "rtnetlink socket: %s", strerror(errno));
		return NULL;
	}
	if (groups) {
		int size = EVENTS_RCVBUF;
		setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	} else {
		struct timeval tv = { .tv_sec = DUMP_TIMEOUT_MS / 1000, .tv_usec = (DUMP_TIMEOUT_MS % 1000) * 1000 };
		setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	if (mnl_socket_bind(nl, groups, MNL_SOCKET_AUTOPID) < 0) {
		snprintf(err, errlen, "rtnetlink bind: %s", strerror(errno));
		mnl_socket_close(nl);
		return NULL;
	}
	return nl;
}

int hs_addr_watch_open(struct hs_addr_watch *w, char *err, size_t errlen)
{
	bool changed;

	memset(w, 0, sizeof(*w));
	hs_local_addrs_init(&w->set);
	w->events = open_socket(RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR, err, errlen);
	if (w->events)
		w->dump = open_socket(0, err, errlen);
	if (!w->events || !w->dump) {
		hs_addr_watch_close(w);
		return -1;
	}
	if (!read_all(w, &changed)) {
		snprintf(err, errlen, "reading the local addresses: %s", strerror(errno));
		hs_addr_watch_close(w);
		return -1;
	}
	return 0;
}

void hs_addr_watch_close(struct hs_addr_watch *w)
{
	if (w->events)
		mnl_socket_close(w->events);
	if (w->dump)
		mnl_socket_close(w->dump);
	w->events = w->dump = NULL;
}

int hs_addr_watch_fd(const struct hs_addr_watch *w)
{
	return w->events ? mnl_socket_get_fd(w->events) : -1;
}

/* Throws away what is queued: after a gap it may be older than what was lost. */
static void drain(struct hs_addr_watch *w)
{
	char buf[NL_BUFFER];

	for (int i = 0; i < DRAIN_MAX; i++) {
		ssize_t n = mnl_socket_recvfrom(w->events, buf, sizeof(buf));
		if (n < 0 && errno != ENOBUFS && errno != EINTR)
			break;
	}
}

static int event_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *ctx = data;

	apply(ctx->w, &ctx->w->set, nlh, true, &ctx->changed);
	return MNL_CB_OK;
}

bool hs_addr_watch_dispatch(struct hs_addr_watch *w)
{
	char buf[NL_BUFFER];
	struct dump_ctx ctx = { .w = w };
	bool resync = false;

	if (!w->events)
		return false;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(w->events, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ENOBUFS) {
			resync = true;
			break;
		}
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN) {
				w->stats.errors++;
				log_warn("rtnetlink: reading address notifications");
			}
			break;
		}
		uint64_t changes_before = w->stats.changes;
		/* Notifications carry sequence 0 and the kernel's port id 0: check neither. */
		if (mnl_cb_run(buf, (size_t)n, 0, 0, event_cb, &ctx) < 0)
			w->stats.errors++;
		/* The set changed while an address was left out for want of room: it may fit now. */
		if (w->full && w->stats.changes != changes_before)
			resync = true;
	}
	if (resync) {
		w->stats.resyncs++;
		drain(w);
		bool changed = false;
		if (read_all(w, &changed))
			ctx.changed |= changed;
	}
	return ctx.changed;
}
