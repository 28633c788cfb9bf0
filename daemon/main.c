/*
 * handshaked: command line, configuration check, and the main thread's
 * loop, which owns the signals (through a signalfd), the control socket,
 * the metrics listener, the host's address changes (rtnetlink) and the
 * conversation with systemd (readiness, status, reloads, the watchdog)
 * while the queue workers run the packet path in their own threads.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "hs_config.h"
#include "hs_config_print.h"
#include "hs_control.h"
#include "hs_daemon.h"
#include "hs_daemon_command.h"
#include "hs_log.h"
#include "hs_metrics.h"
#include "hs_metrics_http.h"
#include "hs_notify.h"
#include "hs_replay.h"
#include "hs_watch.h"

/* How often systemd's STATUS= line is refreshed. */
#define STATUS_INTERVAL_MS 5000

static void usage(FILE *out)
{
	fprintf(out,
		"usage: handshaked [-c FILE] [-t] [-v]\n"
		"       handshaked -r CAPTURE [-c FILE] [--json] [--events]\n"
		"  -c FILE     configuration file (default %s)\n"
		"  -t          check the configuration and exit: 0 and \"configuration OK\", or the errors\n"
		"  -t -v       also print the effective configuration, every default filled in\n"
		"  -v          verbose: log at debug level\n"
		"  -r CAPTURE  replay a pcap or pcapng file (- for standard input) through the tracker and\n"
		"              the policies (in dry run), then print the table and a summary\n"
		"  --json      with -r: the table as JSON Lines, then the summary as one JSON object\n"
		"  --events    with -r: stream the flow events as JSON Lines while reading\n",
		HS_DEFAULT_CONFIG_PATH);
}

static int check_config(const char *path, bool print_effective)
{
	struct hs_config config;
	struct hs_diag diag;
	int rc = hs_config_load(path, &config, &diag);

	fputs(hs_diag_text(&diag), stderr);
	if (rc == 0 && print_effective)
		hs_config_print(stdout, &config);
	if (rc == 0)
		printf("configuration OK\n");
	hs_diag_free(&diag);
	return rc == 0 ? 0 : 1;
}

static void reload(struct hs_daemon *d)
{
	struct hs_diag diag;

	hs_daemon_reload(d, &diag);
	/* The diagnostics already name the file, line and column. */
	const char *text = hs_diag_text(&diag);
	if (*text)
		fputs(text, stderr);
	hs_diag_free(&diag);
}

/*
 * A one-line summary for `systemctl status`: flows and packets over all
 * queues, from the same snapshot `stats` and `metrics` read (without the
 * per-state walk).
 */
static void status_line(struct hs_daemon *d, char *out, size_t size)
{
	struct hs_metrics_snapshot snap;

	hs_daemon_snapshot(d, &snap, false);
	snprintf(out, size, "tracking %" PRIu32 " flows (%" PRIu32 " half-open); %" PRIu64 " packets, %" PRIu64
		 " dropped; queue %u-%u",
		 snap.flows_live, snap.flows_half_open, snap.packets, snap.dropped, d->config.queue_first,
		 d->config.queue_last);
	hs_metrics_snapshot_free(&snap);
}

/*
 * The watchdog is fed only while every worker's loop turns: a worker stuck
 * in a loop or a lock leaves its heartbeat still, the pings stop, and
 * systemd restarts the daemon (WatchdogSec=).  A stuck main loop stops the
 * pings by itself.
 */
struct watchdog {
	uint64_t interval_ms;       /* 0: systemd asked for no watchdog */
	uint64_t next_ms;
	uint64_t *seen, *current;   /* heartbeats at the last ping, and now */
	bool complained;            /* a stall was logged; log again only after recovery */
};

static void watchdog_init(struct watchdog *wd, const struct hs_notify *n, const struct hs_daemon *d)
{
	memset(wd, 0, sizeof(*wd));
	if (n->watchdog_usec == 0)
		return;
	/* Half the interval, as systemd recommends, so one late ping is not fatal. */
	wd->interval_ms = n->watchdog_usec / 2000u;
	if (wd->interval_ms == 0)
		wd->interval_ms = 1;
	wd->seen = calloc(d->nworkers, sizeof(*wd->seen));
	wd->current = calloc(d->nworkers, sizeof(*wd->current));
	if (!wd->seen || !wd->current)
		fatalx("out of memory");
	for (uint32_t i = 0; i < d->nworkers; i++)
		wd->seen[i] = hs_worker_heartbeat(d->workers[i]);
	wd->next_ms = hs_now_ms() + wd->interval_ms;
	log_info("systemd watchdog: %" PRIu64 " ms, pinged every %" PRIu64 " ms while all %u worker loops run",
		 n->watchdog_usec / 1000u, wd->interval_ms, d->nworkers);
}

static void watchdog_tick(struct watchdog *wd, const struct hs_notify *n, struct hs_daemon *d, uint64_t now)
{
	size_t stuck = 0;

	for (uint32_t i = 0; i < d->nworkers; i++)
		wd->current[i] = hs_worker_heartbeat(d->workers[i]);
	if (hs_notify_heartbeats_advanced(wd->seen, wd->current, d->nworkers, &stuck)) {
		hs_notify_watchdog(n);
		if (wd->complained)
			log_notice("all worker loops run again; watchdog pings resumed");
		wd->complained = false;
	} else if (!wd->complained) {
		log_error("queue %u: worker loop made no progress for %" PRIu64 " ms; not pinging the watchdog",
			  hs_worker_queue(d->workers[stuck]), wd->interval_ms);
		wd->complained = true;
	}
	wd->next_ms = now + wd->interval_ms;
}

static void watchdog_free(struct watchdog *wd)
{
	free(wd->seen);
	free(wd->current);
}

static int timeout_until(uint64_t deadline, uint64_t now)
{
	if (deadline <= now)
		return 0;
	uint64_t ms = deadline - now;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Signals go to the main thread's signalfd; workers inherit the mask. */
static int signals_to_fd(void)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		fatal("signalfd");
	return sfd;
}

/*
 * The main thread's loop: signals, the control socket, the metrics
 * listener and the host's address changes, plus the timers of the
 * conversation with systemd (status line, watchdog).
 */
struct main_loop {
	struct hs_daemon *daemon;
	const struct hs_notify *notify;
	const char *path;
	int epfd, sfd, http_fd, addrs_fd, control_fd;
	struct watchdog wd;
	uint64_t next_status;
	uint64_t next_watch_drain;
	bool running;
};

static void loop_watch(struct main_loop *m, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	if (fd >= 0 && epoll_ctl(m->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		fatal("epoll");
}

static void loop_init(struct main_loop *m, struct hs_daemon *d, const struct hs_notify *n, const char *path,
		      int sfd)
{
	memset(m, 0, sizeof(*m));
	m->daemon = d;
	m->notify = n;
	m->path = path;
	m->sfd = sfd;
	m->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (m->epfd < 0)
		fatal("epoll");
	m->http_fd = d->metrics_http ? hs_metrics_http_fd(d->metrics_http) : -1;
	m->addrs_fd = hs_addr_watch_fd(&d->addrs);
	loop_watch(m, sfd);
	m->control_fd = hs_control_fd(d->control);
	loop_watch(m, m->control_fd);
	loop_watch(m, m->http_fd);
	loop_watch(m, m->addrs_fd);

	/*
	 * Ready only now: the queues are bound, the workers run and the
	 * control socket answers, so `systemctl start` returning means traffic
	 * is being tracked.
	 */
	char status[256];
	status_line(d, status, sizeof(status));
	hs_notify_ready(n, status);
	watchdog_init(&m->wd, n, d);
	if (m->wd.interval_ms)
		hs_notify_watchdog(n);
	m->next_status = hs_now_ms() + STATUS_INTERVAL_MS;
	m->running = true;
}

/* The earliest timer the loop must wake for; UINT64_MAX if none. */
static uint64_t loop_deadline(const struct main_loop *m)
{
	uint64_t deadline = UINT64_MAX;

	if (hs_notify_enabled(m->notify))
		deadline = m->next_status;
	if (m->wd.interval_ms && m->wd.next_ms < deadline)
		deadline = m->wd.next_ms;
	if (m->daemon->state.next_save_ms < deadline)
		deadline = m->daemon->state.next_save_ms;
	if (hs_state_pool_deadline(&m->daemon->state) < deadline)
		deadline = hs_state_pool_deadline(&m->daemon->state);
	if (m->daemon->metrics_http) {
		uint64_t http_deadline = hs_metrics_http_next_deadline(m->daemon->metrics_http);
		if (http_deadline < deadline)
			deadline = http_deadline;
	}
	/* An answer being produced (a long list, a count) goes on at once, between other work. */
	if (hs_control_busy(m->daemon->control))
		return 0;
	if (hs_watch_active(m->daemon->watch) && m->next_watch_drain < deadline)
		deadline = m->next_watch_drain;
	uint64_t control_deadline = hs_control_next_deadline(m->daemon->control);
	return control_deadline < deadline ? control_deadline : deadline;
}

/*
 * The control socket's clients: requests it checked are carried out by the
 * daemon, answers are written as the clients read them.  Never blocks.
 */
static void serve_control(struct hs_daemon *d)
{
	struct hs_control_command cmd;

	while (hs_control_serve(d->control, hs_now_ms(), &cmd))
		hs_daemon_command(d, &cmd);
}

static void loop_timers(struct main_loop *m, uint64_t now)
{
	struct hs_daemon *d = m->daemon;

	if (m->wd.interval_ms && now >= m->wd.next_ms)
		watchdog_tick(&m->wd, m->notify, d, now);
	if (hs_notify_enabled(m->notify) && now >= m->next_status) {
		char status[256];
		status_line(d, status, sizeof(status));
		hs_notify_status(m->notify, status);
		m->next_status = now + STATUS_INTERVAL_MS;
	}
	/* A periodic snapshot bounds what a crash or SIGKILL loses to one interval. */
	if (now >= d->state.next_save_ms) {
		char err[HS_PATH_MAX + 128];
		hs_daemon_save(d, err, sizeof(err));
		d->state.next_save_ms = hs_now_ms() + d->state.interval_ms;
	}
	/* Restored flows of another set of queues that no worker claimed within state.max_age. */
	hs_state_pool_expire(&d->state, now);
	/* Connections past their deadline are dropped here even when no socket stirred. */
	if (d->metrics_http && now >= hs_metrics_http_next_deadline(d->metrics_http))
		hs_metrics_http_dispatch(d->metrics_http, now);
	/* Events for watchers: moved from the workers' rings to the clients' buffers, then written. */
	if (hs_watch_active(d->watch) && now >= m->next_watch_drain) {
		if (hs_watch_drain(d->watch))
			hs_control_kick(d->control);
		m->next_watch_drain = now + HS_WATCH_DRAIN_MS;
	}
	if (hs_control_busy(d->control) || now >= hs_control_next_deadline(d->control))
		serve_control(d);
}

static void loop_signals(struct main_loop *m)
{
	struct signalfd_siginfo si;

	while (read(m->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			log_info("SIGHUP: reloading %s", m->path);
			reload(m->daemon);
		} else {
			log_notice("signal %u: stopping", si.ssi_signo);
			m->running = false;
		}
	}
}

static void loop_turn(struct main_loop *m)
{
	struct epoll_event evs[4];
	struct hs_daemon *d = m->daemon;
	uint64_t deadline = loop_deadline(m);
	int n = epoll_wait(m->epfd, evs, 4, deadline == UINT64_MAX ? -1 : timeout_until(deadline, hs_now_ms()));

	if (n < 0) {
		if (errno == EINTR)
			return;
		fatal("epoll_wait");
	}
	loop_timers(m, hs_now_ms());
	for (int i = 0; i < n; i++) {
		int fd = evs[i].data.fd;

		if (fd == m->control_fd)
			serve_control(d);
		else if (fd == m->http_fd)
			hs_metrics_http_dispatch(d->metrics_http, hs_now_ms());
		else if (fd == m->addrs_fd)
			hs_daemon_addrs_changed(d);
		else if (fd == m->sfd)
			loop_signals(m);
	}
}

/* What the command line asks for. */
struct command_line {
	const char *path;
	bool config_given;          /* -c was used (replay then loads that file) */
	bool test_only, verbose;
	struct hs_replay_options replay;
};

/* Parses argv; returns -1 to go on, or the exit status (0 after -h, 2 on a usage error). */
static int parse_command_line(int argc, char **argv, struct command_line *cl)
{
	static const struct option long_options[] = {
		{ "json", no_argument, NULL, 'J' },
		{ "events", no_argument, NULL, 'E' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	memset(cl, 0, sizeof(*cl));
	cl->path = HS_DEFAULT_CONFIG_PATH;
	while ((opt = getopt_long(argc, argv, "c:tvhr:", long_options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			cl->path = optarg;
			cl->config_given = true;
			break;
		case 'r':
			cl->replay.path = optarg;
			break;
		case 'J':
			cl->replay.json = true;
			break;
		case 'E':
			cl->replay.events = true;
			break;
		case 't':
			cl->test_only = true;
			break;
		case 'v':
			cl->verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	bool replay_options = cl->replay.json || cl->replay.events;
	if (optind != argc || (replay_options && !cl->replay.path) || (cl->replay.path && cl->test_only)) {
		usage(stderr);
		return 2;
	}
	return -1;
}

/* Runs the daemon until a signal stops it; the table is saved on the way out (state.dir). */
static int run_daemon(const char *path, const struct hs_config *config, int sfd)
{
	struct hs_notify notify;
	char err[512];
	/* A broken NOTIFY_SOCKET is worth a warning, not a refusal to run. */
	if (hs_notify_init(&notify, err, sizeof(err)) < 0)
		log_warnx("%s; systemd will not be notified", err);

	struct hs_daemon daemon;
	if (hs_daemon_start(&daemon, path, config, err, sizeof(err)) < 0) {
		hs_notify_sendf(&notify, "STATUS=start failed: %s", err);
		fatalx("%s", err);
	}
	daemon.notify = &notify;
	log_notice("started: queue %u-%u, %u flows per queue, control socket %s%s%s", config->queue_first,
		   config->queue_last, config->max_flows, config->control_socket,
		   config->metrics_listen[0] ? ", metrics on " : "", config->metrics_listen);

	struct main_loop loop;
	loop_init(&loop, &daemon, &notify, path, sfd);
	while (loop.running)
		loop_turn(&loop);
	hs_notify_stopping(&notify);
	if (daemon.state.dir[0]) {
		char save_err[HS_PATH_MAX + 128];
		hs_daemon_save(&daemon, save_err, sizeof(save_err));
	}
	hs_daemon_stop(&daemon);
	watchdog_free(&loop.wd);
	hs_notify_close(&notify);
	close(loop.epfd);
	return 0;
}

int main(int argc, char **argv)
{
	struct command_line cl;
	int rc = parse_command_line(argc, argv, &cl);

	if (rc >= 0)
		return rc;
	if (cl.replay.path)
		return hs_replay_command(cl.config_given ? cl.path : NULL, &cl.replay);
	if (cl.test_only)
		return check_config(cl.path, cl.verbose);

	struct hs_config config;
	struct hs_diag diag;
	if (hs_config_load(cl.path, &config, &diag) < 0) {
		fputs(hs_diag_text(&diag), stderr);
		hs_diag_free(&diag);
		return 1;
	}
	fputs(hs_diag_text(&diag), stderr);
	hs_diag_free(&diag);
	log_init(cl.verbose ? HS_LOG_DEBUG : config.log_level);

	int sfd = signals_to_fd();

	/* Kept before anything could reopen descriptor 0 (see hs_metrics.h). */
	if (hs_queue_proc_adopt_stdin())
		log_debug("kernel queue counters: reading the file systemd opened on standard input");
	rc = run_daemon(cl.path, &config, sfd);
	close(sfd);
	log_notice("stopped");
	return rc;
}
