/*
 * control: the control socket's server side.
 *
 * Connections are served one at a time by the main thread with short
 * socket timeouts, so a stuck client cannot hold the daemon.  Tables are
 * read in chunks under each worker's lock and formatted outside it, so even
 * listing a million flows pauses a worker only for the copy of one chunk.
 */
#include "hs_control.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "hs_daemon.h"
#include "hs_flow_json.h"
#include "hs_log.h"
#include "hs_metrics.h"

#define CHUNK_FLOWS 1024
#define IO_TIMEOUT_S 5
#define REQUEST_TIMEOUT_MS 2000u     /* to receive a whole command */
#define MAX_ARGS 16

int hs_control_listen(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "control socket path too long: %s", path);
		return -1;
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);

	/* Create the directory when run by hand; systemd's RuntimeDirectory= does it otherwise. */
	char dir[sizeof(sun.sun_path)];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		mkdir(dir, 0755);
	}

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "control socket: %s", strerror(errno));
		return -1;
	}
	/* A socket file left by a daemon that died is stale if nobody answers on it. */
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			close(probe);
			close(fd);
			snprintf(err, errlen, "control socket %s is in use: is handshaked already running?", path);
			return -1;
		}
		if (probe >= 0)
			close(probe);
		unlink(path);
	}
	mode_t old = umask(0117);
	int rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc < 0 || chmod(path, 0660) < 0 || listen(fd, 16) < 0) {
		snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Output to one client, buffered; a failed write stops further output. */
struct reply {
	int fd;
	bool failed;
	size_t len;
	char buf[16384];
};

static void reply_flush(struct reply *r)
{
	size_t off = 0;

	while (off < r->len && !r->failed) {
		ssize_t n = write(r->fd, r->buf + off, r->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r->failed = true;
			break;
		}
		off += (size_t)n;
	}
	r->len = 0;
}

static void reply_put(struct reply *r, const char *text, size_t len)
{
	if (r->len + len > sizeof(r->buf))
		reply_flush(r);
	if (len > sizeof(r->buf)) {
		len = sizeof(r->buf);
	}
	memcpy(r->buf + r->len, text, len);
	r->len += len;
}

static void reply_printf(struct reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply_printf(struct reply *r, const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		reply_put(r, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* ---- list ---- */

struct list_options {
	bool json;
	struct hs_flow_filter filter;
};

static void cmd_list(struct reply *r, struct hs_daemon *d, const struct list_options *opt)
{
	static struct hs_flow chunk[CHUNK_FLOWS];
	char line[HS_FLOW_JSON_MAX + 2];

	reply_printf(r, "ok\n");
	if (!opt->json) {
		size_t len = hs_flow_text_header(line, sizeof(line) - 1);
		line[len++] = '\n';
		reply_put(r, line, len);
	}
	for (uint32_t wi = 0; wi < d->nworkers && !r->failed; wi++) {
		struct hs_worker *w = &d->workers[wi];
		uint32_t pos = 0;
		bool more = true;

		while (more && !r->failed) {
			size_t n = 0;

			/* The span grows while the worker runs: read it under the lock, chunk by chunk. */
			pthread_mutex_lock(&w->lock);
			uint32_t span = hs_table_span(w->table);
			for (; pos < span && n < CHUNK_FLOWS; pos++) {
				const struct hs_flow *f = hs_table_flow_at(w->table, pos);
				if (f && hs_flow_filter_match(&opt->filter, f))
					chunk[n++] = *f;
			}
			more = pos < span;
			pthread_mutex_unlock(&w->lock);

			uint64_t now = hs_now_ms();
			for (size_t i = 0; i < n; i++) {
				size_t len = opt->json ? hs_flow_json(line, sizeof(line) - 1, w->table, &chunk[i], now)
						       : hs_flow_text(line, sizeof(line) - 1, w->table, &chunk[i], now);
				if (len == 0)
					continue;
				line[len++] = '\n';
				reply_put(r, line, len);
			}
		}
	}
}

/* ---- stats ---- */

/* What stats shows of the queues: their counters summed, the longest burst of any. */
struct queue_totals {
	uint64_t bursts, enobufs, recv_errors, send_errors, malformed, loop_max_us;
	bool kernel_found;
	uint64_t kernel_waiting, kernel_dropped, kernel_user_dropped;
};

static struct queue_totals sum_queues(const struct hs_metrics_snapshot *s)
{
	struct queue_totals t = { 0 };

	for (uint32_t i = 0; i < s->nqueues; i++) {
		const struct hs_metrics_queue *q = &s->queues[i];

		t.bursts += q->bursts;
		t.enobufs += q->enobufs;
		t.recv_errors += q->recv_errors;
		t.send_errors += q->send_errors;
		t.malformed += q->malformed;
		if (q->loop_max_us > t.loop_max_us)
			t.loop_max_us = q->loop_max_us;
		t.kernel_found |= q->kernel_found;
		t.kernel_waiting += q->kernel_waiting;
		t.kernel_dropped += q->kernel_dropped;
		t.kernel_user_dropped += q->kernel_user_dropped;
	}
	return t;
}

/* The same snapshot as the metrics, without counting flows by state. */
static void cmd_stats(struct reply *r, struct hs_daemon *d, bool json)
{
	static struct hs_metrics_snapshot s;

	hs_metrics_collect(d, &s, false);
	struct queue_totals q = sum_queues(&s);
	uint64_t invalid_total = 0, parse_total = 0;
	uint64_t evicted = s.evicted_half_open + s.evicted_established;
	for (int i = 1; i < HS_INVALID_REASON_COUNT; i++)
		invalid_total += s.invalid_by_reason[i];
	for (int i = HS_PARSE_EMPTY; i < HS_PARSE_RESULT_COUNT; i++)
		parse_total += s.malformed_by_reason[i];

	reply_printf(r, "ok\n");
	if (json) {
		reply_printf(r, "{\"uptime_ms\":%" PRIu64 ",\"queues\":%u,\"reloads\":%" PRIu64 ",\"reload_failures\":%" PRIu64 ",",
			     s.uptime_ms, d->nworkers, s.reloads, s.reload_failures);
		reply_printf(r, "\"packets\":{\"seen\":%" PRIu64 ",\"accepted\":%" PRIu64 ",\"dropped\":%" PRIu64
			     ",\"own\":%" PRIu64 ",\"loopback_repeat\":%" PRIu64 ",\"not_tcp\":%" PRIu64
			     ",\"fragments\":%" PRIu64 ",\"invalid\":%" PRIu64 ",\"malformed\":%" PRIu64
			     ",\"syn_with_data\":%" PRIu64 "},",
			     s.packets, s.accepted, s.dropped, s.own_packets, s.loopback_repeats, s.not_tcp, s.fragments,
			     s.invalid, parse_total, s.syn_with_data);
		reply_printf(r, "\"invalid\":{");
		for (int i = 1; i < HS_INVALID_REASON_COUNT; i++)
			reply_printf(r, "%s\"%s\":%" PRIu64, i > 1 ? "," : "", hs_invalid_reason_name((enum hs_invalid_reason)i),
				     s.invalid_by_reason[i]);
		reply_printf(r, "},\"malformed\":{");
		for (int i = HS_PARSE_EMPTY; i < HS_PARSE_RESULT_COUNT; i++)
			reply_printf(r, "%s\"%s\":%" PRIu64, i > HS_PARSE_EMPTY ? "," : "",
				     hs_parse_result_name((enum hs_parse_result)i), s.malformed_by_reason[i]);
		reply_printf(r, "},\"flows\":{\"live\":%u,\"half_open\":%u,\"capacity\":%u,\"created\":%" PRIu64
			     ",\"expired\":%" PRIu64 ",\"evicted\":%" PRIu64 ",\"evicted_half_open\":%" PRIu64
			     ",\"evicted_established\":%" PRIu64 ",\"deleted\":%" PRIu64 ",\"reopened\":%" PRIu64
			     ",\"untracked_table_full\":%" PRIu64 ",\"resynced\":%" PRIu64 "},",
			     s.flows_live, s.flows_half_open, s.capacity, s.flows_created, s.flows_expired, evicted,
			     s.evicted_half_open, s.evicted_established, s.flows_deleted, s.flows_reopened,
			     s.untracked_table_full, s.flows_resynced);
		reply_printf(r, "\"queue\":{\"bursts\":%" PRIu64 ",\"enobufs\":%" PRIu64 ",\"recv_errors\":%" PRIu64
			     ",\"send_errors\":%" PRIu64 ",\"malformed\":%" PRIu64 ",\"kernel_queued\":%" PRIu64
			     ",\"kernel_dropped\":%" PRIu64 ",\"kernel_user_dropped\":%" PRIu64 ",\"loop_max_us\":%" PRIu64
			     "},\"events_lost\":%" PRIu64,
			     q.bursts, q.enobufs, q.recv_errors, q.send_errors, q.malformed, q.kernel_waiting, q.kernel_dropped,
			     q.kernel_user_dropped, q.loop_max_us, s.events_lost);
		if (s.drop_pcap_on)
			reply_printf(r, ",\"drop_pcap\":{\"written\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"write_errors\":%" PRIu64
				     ",\"rotations\":%" PRIu64 "}",
				     s.drop_pcap.written, s.drop_pcap.lost, s.drop_pcap.write_errors, s.drop_pcap.rotations);
		reply_printf(r, ",\"local_addresses\":{\"read\":%s,\"count\":%u,\"changes\":%" PRIu64
			     ",\"resyncs\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"untracked\":%" PRIu64 "}",
			     s.addrs_read ? "true" : "false", s.local_addresses, s.addr_watch.changes,
			     s.addr_watch.resyncs, s.addr_watch.errors, s.addr_watch.untracked);
		reply_printf(r, ",\"resets\":{\"sent\":%" PRIu64 ",\"retried\":%" PRIu64 ",\"failed\":%" PRIu64
			     ",\"skipped\":%" PRIu64 ",\"waiting\":%" PRIu64 ",\"deferred\":%" PRIu64
			     "},\"policy_counts_full\":%" PRIu64,
			     s.rst.sent, s.rst.retried, s.rst.failed, s.rst.skipped, s.rst_waiting, s.rst_deferred,
			     s.policy_counts_full);
		reply_printf(r, ",\"policies\":[");
		for (uint32_t i = 0; i < s.npolicies; i++)
			reply_printf(r, "%s{\"name\":\"%s\",\"acted\":%" PRIu64 ",\"dry_run\":%" PRIu64
				     ",\"verified\":%" PRIu64 ",\"refused\":%" PRIu64 ",\"resets_sent\":%" PRIu64 "}",
				     i ? "," : "", s.policies[i].name, s.policies[i].counters.acted,
				     s.policies[i].counters.dry_run, s.policies[i].counters.verified,
				     s.policies[i].counters.refused, s.policies[i].counters.resets_sent);
		reply_printf(r, "]}\n");
		hs_metrics_snapshot_free(&s);
		return;
	}
	reply_printf(r, "uptime            %.1f s, %u queue(s) from %u, %" PRIu64 " reload(s), %" PRIu64 " failed\n",
		     (double)s.uptime_ms / 1000.0, d->nworkers, d->config.queue_first, s.reloads, s.reload_failures);
	reply_printf(r, "packets           seen %" PRIu64 ", accepted %" PRIu64 ", dropped %" PRIu64
		     ", own (untracked) %" PRIu64 ", loopback seen twice (untracked) %" PRIu64 "\n", s.packets,
		     s.accepted, s.dropped, s.own_packets, s.loopback_repeats);
	reply_printf(r, "                  not TCP %" PRIu64 ", fragments %" PRIu64 ", malformed %" PRIu64
		     ", invalid TCP %" PRIu64 "\n", s.not_tcp, s.fragments, parse_total, invalid_total);
	reply_printf(r, "                  SYNs with data (TCP Fast Open) %" PRIu64 "\n", s.syn_with_data);
	for (int i = 1; i < HS_INVALID_REASON_COUNT; i++)
		if (s.invalid_by_reason[i])
			reply_printf(r, "  invalid         %-20s %" PRIu64 "\n", hs_invalid_reason_name((enum hs_invalid_reason)i),
				     s.invalid_by_reason[i]);
	for (int i = HS_PARSE_EMPTY; i < HS_PARSE_RESULT_COUNT; i++)
		if (s.malformed_by_reason[i])
			reply_printf(r, "  malformed       %-20s %" PRIu64 "\n", hs_parse_result_name((enum hs_parse_result)i),
				     s.malformed_by_reason[i]);
	reply_printf(r, "flows             live %u (half-open %u) of %u\n", s.flows_live, s.flows_half_open, s.capacity);
	reply_printf(r, "                  created %" PRIu64 ", expired %" PRIu64 ", evicted %" PRIu64
		     " (half-open %" PRIu64 ", established %" PRIu64 "), deleted %" PRIu64 ", reopened %" PRIu64 "\n",
		     s.flows_created, s.flows_expired, evicted, s.evicted_half_open, s.evicted_established,
		     s.flows_deleted, s.flows_reopened);
	reply_printf(r, "                  untracked (table full) %" PRIu64 ", resynchronised after missed packets %" PRIu64 "\n",
		     s.untracked_table_full, s.flows_resynced);
	reply_printf(r, "queue             bursts %" PRIu64 ", enobufs %" PRIu64 ", recv errors %" PRIu64
		     ", send errors %" PRIu64 ", malformed %" PRIu64 ", longest burst %" PRIu64 " us\n",
		     q.bursts, q.enobufs, q.recv_errors, q.send_errors, q.malformed, q.loop_max_us);
	if (q.kernel_found)
		reply_printf(r, "kernel queue      waiting %" PRIu64 ", dropped (queue full) %" PRIu64
			     ", dropped (socket full) %" PRIu64 "\n", q.kernel_waiting, q.kernel_dropped, q.kernel_user_dropped);
	reply_printf(r, "events            lost %" PRIu64 "\n", s.events_lost);
	if (s.drop_pcap_on)
		reply_printf(r, "dropped capture   written %" PRIu64 ", lost (writer behind) %" PRIu64 ", write errors %" PRIu64
			     ", rotations %" PRIu64 "\n",
			     s.drop_pcap.written, s.drop_pcap.lost, s.drop_pcap.write_errors, s.drop_pcap.rotations);
	if (s.addrs_read)
		reply_printf(r, "local addresses   %u; changes %" PRIu64 ", read again %" PRIu64 ", errors %" PRIu64
			     ", left out (set full) %" PRIu64 "\n", s.local_addresses, s.addr_watch.changes,
			     s.addr_watch.resyncs, s.addr_watch.errors, s.addr_watch.untracked);
	else
		reply_printf(r, "local addresses   not read (no endpoint is known as local); errors %" PRIu64 "\n",
			     s.addr_watch.errors);
	reply_printf(r, "resets            sent %" PRIu64 ", retried %" PRIu64 ", failed %" PRIu64 ", skipped %" PRIu64
		     ", waiting %" PRIu64 ", deferred a tick %" PRIu64 "\n", s.rst.sent, s.rst.retried, s.rst.failed,
		     s.rst.skipped, s.rst_waiting, s.rst_deferred);
	if (s.policy_counts_full)
		reply_printf(r, "limits            %" PRIu64 " flow(s) not counted: count table full\n",
			     s.policy_counts_full);
	for (uint32_t i = 0; i < s.npolicies; i++)
		reply_printf(r, "policy %-18s acted %" PRIu64 ", dry-run %" PRIu64 ", verified %" PRIu64 ", refused %" PRIu64
			     ", resets sent %" PRIu64 "\n", s.policies[i].name, s.policies[i].counters.acted,
			     s.policies[i].counters.dry_run, s.policies[i].counters.verified, s.policies[i].counters.refused,
			     s.policies[i].counters.resets_sent);
	hs_metrics_snapshot_free(&s);
}

/* ---- metrics ---- */

static void cmd_metrics(struct reply *r, struct hs_daemon *d)
{
	static struct hs_metrics_snapshot snap;
	size_t len;

	hs_metrics_collect(d, &snap, true);
	char *text = hs_metrics_format(&snap, &len);
	hs_metrics_snapshot_free(&snap);
	if (!text) {
		reply_printf(r, "error: metrics: out of memory\n");
		return;
	}
	reply_printf(r, "ok\n");
	/* The text may be far larger than the reply buffer: hand it over in pieces. */
	for (size_t off = 0; off < len && !r->failed; off += sizeof(r->buf)) {
		size_t piece = len - off < sizeof(r->buf) ? len - off : sizeof(r->buf);
		reply_put(r, text + off, piece);
	}
	free(text);
}

/* ---- kill, reload ---- */

static void cmd_kill(struct reply *r, struct hs_daemon *d, const char *arg)
{
	char *end;
	errno = 0;
	unsigned long id = strtoul(arg, &end, 10);

	if (errno || *end || id == 0 || id > UINT32_MAX || !isdigit((unsigned char)arg[0])) {
		reply_printf(r, "error: kill: \"%s\" is not a flow id (a positive number from list)\n", arg);
		return;
	}
	for (uint32_t i = 0; i < d->nworkers; i++) {
		struct hs_worker *w = &d->workers[i];

		pthread_mutex_lock(&w->lock);
		struct hs_flow *f = hs_table_find_id(w->table, (uint32_t)id);
		struct hs_rst_result rr = { 0, 0, 0, 0 };
		if (f)
			rr = hs_worker_reset_flow(w, f);
		pthread_mutex_unlock(&w->lock);
		if (f && rr.queued) {
			log_info("control: flow %lu: %u reset(s) sent, %u waiting for the kernel", id, rr.sent, rr.queued);
			reply_printf(r, "ok\nflow %lu: %u reset(s) sent, %u waiting for the kernel; "
				     "removed once they are sent\n", id, rr.sent, rr.queued);
			return;
		}
		if (f) {
			log_info("control: flow %lu removed, %u reset(s) sent", id, rr.sent);
			reply_printf(r, "ok\nflow %lu removed, %u reset(s) sent\n", id, rr.sent);
			return;
		}
	}
	reply_printf(r, "error: kill: no flow with id %lu\n", id);
}

static void cmd_reload(struct reply *r, struct hs_daemon *d)
{
	struct hs_diag diag;
	int rc = hs_daemon_reload(d, &diag);
	const char *text = hs_diag_text(&diag);

	if (rc == 0)
		reply_printf(r, "ok\nconfiguration reloaded from %s\n", d->config_path);
	else
		reply_printf(r, "error: %s has errors; the running configuration is kept\n", d->config_path);
	if (*text) {
		if (rc != 0)
			fputs(text, stderr);
		reply_put(r, text, strlen(text));
	}
	hs_diag_free(&diag);
}

/* ---- dispatch ---- */

#define LIST_USAGE "list [--json] [--state S] [--client-state S] [--server-state S] [--local-state S] [--remote-state S]"

static const char usage[] =
	"commands: " LIST_USAGE " | stats [--json] | metrics | kill ID | reload | ping";

/* The state filters of list, in the filter's order. */
static const char *const state_options[] = {
	"--state", "--client-state", "--server-state", "--local-state", "--remote-state",
};

/* Parses list's arguments; false with an error replied. */
static bool parse_list_options(struct reply *r, int argc, char **argv, struct list_options *opt)
{
	memset(opt, 0, sizeof(*opt));
	hs_flow_filter_init(&opt->filter);
	int *fields[] = { &opt->filter.state, &opt->filter.client_state, &opt->filter.server_state,
			  &opt->filter.local_state, &opt->filter.remote_state };
	const size_t n = sizeof(state_options) / sizeof(state_options[0]);
	_Static_assert(sizeof(fields) / sizeof(fields[0]) == sizeof(state_options) / sizeof(state_options[0]),
		       "one field per state option");

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			opt->json = true;
			continue;
		}
		size_t k = 0;
		while (k < n && strcmp(argv[i], state_options[k]) != 0)
			k++;
		if (k == n || i + 1 == argc) {
			reply_printf(r, "error: list: %s \"%s\"; " LIST_USAGE "\n",
				     k < n ? "no state after" : "unexpected argument", argv[i]);
			return false;
		}
		int state = hs_tcp_state_parse(argv[++i]);
		if (state < 0) {
			reply_printf(r, "error: list: %s: unknown state \"%s\" (use a name such as ESTABLISHED or "
				     "CLOSE_WAIT)\n", argv[i - 1], argv[i]);
			return false;
		}
		*fields[k] = state;
	}
	return true;
}

static void dispatch(struct reply *r, struct hs_daemon *d, char *line)
{
	char *argv[MAX_ARGS + 1];
	int argc = 0;

	for (char *tok = strtok(line, " \t"); tok; tok = strtok(NULL, " \t")) {
		if (argc == MAX_ARGS) {
			reply_printf(r, "error: too many arguments\n");
			return;
		}
		argv[argc++] = tok;
	}
	if (argc == 0) {
		reply_printf(r, "error: empty command; %s\n", usage);
		return;
	}
	const char *cmd = argv[0];
	if (strcmp(cmd, "ping") == 0 && argc == 1) {
		reply_printf(r, "ok\npong\n");
	} else if (strcmp(cmd, "list") == 0) {
		struct list_options opt;
		if (parse_list_options(r, argc, argv, &opt))
			cmd_list(r, d, &opt);
	} else if (strcmp(cmd, "stats") == 0 && (argc == 1 || (argc == 2 && strcmp(argv[1], "--json") == 0))) {
		cmd_stats(r, d, argc == 2);
	} else if (strcmp(cmd, "metrics") == 0 && argc == 1) {
		cmd_metrics(r, d);
	} else if (strcmp(cmd, "kill") == 0 && argc == 2) {
		cmd_kill(r, d, argv[1]);
	} else if (strcmp(cmd, "reload") == 0 && argc == 1) {
		cmd_reload(r, d);
	} else {
		reply_printf(r, "error: unknown or malformed command \"%s\"; %s\n", cmd, usage);
	}
}

/*
 * Reads one request line.  Returns its length, or -1 with an error already
 * sent (too long, not text, timed out).
 */
static ssize_t read_request(struct reply *r, char *line, size_t size)
{
	size_t len = 0;
	uint64_t deadline = hs_now_ms() + REQUEST_TIMEOUT_MS;

	for (;;) {
		/*
		 * The whole request gets one deadline, not each read: a client
		 * trickling a byte at a time must not hold the main loop, which
		 * also serves signals, reloads and the watchdog.
		 */
		uint64_t now = hs_now_ms();
		if (now >= deadline) {
			reply_printf(r, "error: no complete command within %u ms\n", REQUEST_TIMEOUT_MS);
			return -1;
		}
		uint64_t left = deadline - now;
		struct timeval tv = { .tv_sec = (time_t)(left / 1000), .tv_usec = (suseconds_t)(left % 1000) * 1000 };
		setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		ssize_t n = read(r->fd, line + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			reply_printf(r, "error: no complete command received (%s)\n", strerror(errno));
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (memchr(line, '\n', len))
			break;
		if (len == size - 1) {
			reply_printf(r, "error: command too long (at most %d bytes)\n", HS_CONTROL_MAX_LINE - 1);
			return -1;
		}
	}
	line[len] = '\0';
	char *nl = memchr(line, '\n', len);
	if (!nl) {
		reply_printf(r, "error: command must end with a newline\n");
		return -1;
	}
	*nl = '\0';
	len = (size_t)(nl - line);
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	for (size_t i = 0; i < len; i++) {
		if (!isprint((unsigned char)line[i]) && line[i] != '\t') {
			reply_printf(r, "error: command contains a non-printable byte at offset %zu\n", i);
			return -1;
		}
	}
	return (ssize_t)len;
}

void hs_control_serve(int listen_fd, struct hs_daemon *d)
{
	static struct reply r;
	char line[HS_CONTROL_MAX_LINE];
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
	int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	r.fd = fd;
	r.failed = false;
	r.len = 0;
	if (read_request(&r, line, sizeof(line)) >= 0)
		dispatch(&r, d, line);
	reply_flush(&r);
	close(fd);
}
