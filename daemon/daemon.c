/*
 * daemon: start, reload and stop of the whole daemon (see hs_daemon.h).
 */
#include "hs_daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "hs_control.h"
#include "hs_log.h"
#include "hs_memory_budget.h"
#include "hs_metrics.h"
#include "hs_metrics_http.h"
#include "hs_notify.h"
#include "hs_watch.h"

static int open_events(const struct hs_config *c, bool *owned, char *err, size_t errlen)
{
	*owned = false;
	switch (c->events_mode) {
	case HS_EVENTS_OFF:
		return -1;
	case HS_EVENTS_STDERR:
		return STDERR_FILENO;
	case HS_EVENTS_FILE:
		break;
	}
	int fd = open(c->events_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0) {
		snprintf(err, errlen, "events file %s: %s", c->events_path, strerror(errno));
		return -2;
	}
	*owned = true;
	return fd;
}

void hs_daemon_snapshot(struct hs_daemon *d, struct hs_metrics_snapshot *s, bool by_state)
{
	hs_metrics_collect_workers(d->workers, d->nworkers, s, by_state);
	s->uptime_ms = hs_now_ms() - d->started_ms;
	s->reloads = d->reloads;
	s->reload_failures = d->reload_failures;
	/* The address watch belongs to the main thread, which is the one asking. */
	s->addrs_read = d->addrs.read_once;
	s->local_addresses = hs_local_addrs_count(&d->addrs.set);
	s->addr_watch = d->addrs.stats;
	hs_watch_stats(d->watch, &s->watch);
	s->drop_pcap_on = d->drop_pcap != NULL;
	s->state_on = d->state.dir[0] != '\0';
	hs_state_stats_get(&d->state, &s->state);
	hs_drop_pcap_stats(d->drop_pcap, &s->drop_pcap);
}

/* The HTTP listener's body: the same text as `handshakectl metrics`. */
static char *render_metrics(void *ctx, size_t *len)
{
	static struct hs_metrics_snapshot snap;
	struct hs_daemon *d = ctx;

	hs_daemon_snapshot(d, &snap, true);
	char *text = hs_metrics_format(&snap, len);
	hs_metrics_snapshot_free(&snap);
	return text;
}

/*
 * Each worker's table takes its own copy under the worker's lock, as a
 * configuration is applied: the packet path then reads only what its
 * worker owns.
 */
static void give_workers_addrs(struct hs_daemon *d)
{
	for (uint32_t i = 0; i < d->nworkers; i++)
		hs_worker_set_local_addrs(d->workers[i], &d->addrs.set);
}

static void log_addrs(const struct hs_addr_watch *a, const char *what)
{
	const struct hs_local_addrs *set = &a->set;
	char text[64];

	log_info("%s: %u local address(es)", what, hs_local_addrs_count(set));
	for (uint32_t i = 0; i < set->n_nets; i++)
		log_debug("  local prefix %s/%u", hs_addr_format(&set->nets[i].addr, set->nets[i].family, text,
								   sizeof(text)), set->nets[i].prefix);
	for (uint32_t i = 0; i < set->n_hosts; i++)
		log_debug("  local address %s", hs_addr_format(&set->hosts[i].addr, set->hosts[i].family, text,
								sizeof(text)));
}

/*
 * Without the host's addresses the daemon still tracks everything; it
 * only cannot tell which endpoint is its own, as on a router.
 */
static void open_addrs(struct hs_daemon *d)
{
	char err[256];

	if (hs_addr_watch_open(&d->addrs, err, sizeof(err)) < 0) {
		log_warnx("%s: no endpoint will be known as local (list shows \"local\":null, "
			  "local_state and remote_state match nothing)", err);
		return;
	}
	log_addrs(&d->addrs, "start");
	give_workers_addrs(d);
}

/*
 * local_state and remote_state need the host's addresses: without them no
 * endpoint is local and such a policy matches nothing.  Returns the first
 * policy that uses them when that is the case, NULL otherwise.
 */
static const struct hs_policy *local_policy_without_addrs(const struct hs_daemon *d,
							  const struct hs_policy_set *set)
{
	if (d->addrs.read_once && hs_local_addrs_count(&d->addrs.set) > 0)
		return NULL;
	for (uint32_t i = 0; i < set->count; i++)
		if (hs_flow_match_is_local(&set->items[i].match))
			return &set->items[i];
	return NULL;
}

#define NO_LOCAL_ADDRS_WARNING \
	"policy \"%s\" (line %u) matches on local_state or remote_state, but no local address could be " \
	"read: it matches nothing"

void hs_daemon_addrs_changed(struct hs_daemon *d)
{
	if (hs_addr_watch_dispatch(&d->addrs)) {
		log_addrs(&d->addrs, "addresses changed");
		give_workers_addrs(d);
	}
}

int hs_daemon_save(struct hs_daemon *d, char *err, size_t errlen)
{
	return hs_state_save(&d->state, d->workers, d->nworkers, err, errlen);
}

int hs_daemon_start(struct hs_daemon *d, const char *config_path, const struct hs_config *config,
		    char *err, size_t errlen)
{
	uint8_t key[16];

	memset(d, 0, sizeof(*d));
	snprintf(d->config_path, sizeof(d->config_path), "%s", config_path);
	d->config = *config;
	d->started_ms = hs_now_ms();
	d->events_fd = open_events(config, &d->events_fd_owned, err, errlen);
	if (d->events_fd == -2)
		return -1;
	/* A fresh random key per start keeps bucket placement unpredictable. */
	if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key)) {
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		return -1;
	}

	d->nworkers = (uint32_t)(config->queue_last - config->queue_first) + 1;
	/* Tables take memory as flows come: one that could never fit fails now, not under load. */
	d->memory_limit = hs_memory_limit("", d->memory_limit_source, sizeof(d->memory_limit_source));
	if (hs_memory_budget_check(hs_memory_tables_at_most(config->max_flows, &config->policies, d->nworkers),
				   d->memory_limit, d->memory_limit_source, config->max_flows, d->nworkers, err,
				   errlen) < 0)
		return -1;
	d->workers = calloc(d->nworkers, sizeof(*d->workers));
	if (!d->workers) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (uint32_t i = 0; i < d->nworkers; i++) {
		d->workers[i] = hs_worker_create((int)i, (uint16_t)(config->queue_first + i), d->nworkers, config, key,
						 d->events_fd, err, errlen);
		if (!d->workers[i]) {
			hs_daemon_stop(d);
			return -1;
		}
	}
	d->watch = hs_watch_new(d->workers, d->nworkers);
	if (!d->watch) {
		snprintf(err, errlen, "out of memory");
		hs_daemon_stop(d);
		return -1;
	}
	d->control = hs_control_open(config->control_socket, err, errlen);
	if (!d->control) {
		hs_daemon_stop(d);
		return -1;
	}
	/* Opened before the workers run, so a bad address fails the start, not a later scrape. */
	if (config->metrics_listen[0]) {
		d->metrics_http = hs_metrics_http_open(config->metrics_listen, render_metrics, d, err, errlen);
		if (!d->metrics_http) {
			hs_daemon_stop(d);
			return -1;
		}
	}
	/* The workers drop nothing before they start, so their rings are given now. */
	if (config->drop_pcap_path[0]) {
		d->drop_pcap = hs_drop_pcap_open(config->drop_pcap_path, config->drop_pcap_max_mb, config->copy_range,
						 d->nworkers, err, errlen);
		if (!d->drop_pcap) {
			hs_daemon_stop(d);
			return -1;
		}
		for (uint32_t i = 0; i < d->nworkers; i++)
			hs_worker_set_drop_ring(d->workers[i], hs_drop_pcap_ring(d->drop_pcap, i));
	}
	/* Before the workers read their first packet, the table they stopped with. */
	hs_state_store_configure(&d->state, config, hs_now_ms());
	hs_state_load(&d->state, d->workers, d->nworkers);
	/* Read before the first packet, so that the first flows are marked too. */
	open_addrs(d);
	const struct hs_policy *p = local_policy_without_addrs(d, &config->policies);
	if (p)
		log_warnx(NO_LOCAL_ADDRS_WARNING, p->name, p->line);
	for (uint32_t i = 0; i < d->nworkers; i++) {
		if (hs_worker_start(d->workers[i]) < 0) {
			snprintf(err, errlen, "starting worker %u: %s", i, strerror(errno));
			hs_daemon_stop(d);
			return -1;
		}
	}
	return 0;
}

/*
 * Settings a running daemon cannot change (they size or bind what the
 * workers hold), listed once: a reload reports each one that changed
 * instead of ignoring it silently, and keeps its running value so that the
 * running state stays coherent.
 */
struct restart_only {
	const char *name;
	size_t offset, size;
};

#define RESTART_ONLY(n, field) { n, offsetof(struct hs_config, field), sizeof(((struct hs_config *)0)->field) }

static const struct restart_only restart_only[] = {
	RESTART_ONLY("queue.num", queue_first),
	RESTART_ONLY("queue.num", queue_last),
	RESTART_ONLY("queue.copy_range", copy_range),
	RESTART_ONLY("queue.maxlen", queue_maxlen),
	RESTART_ONLY("queue.fail_open", fail_open),
	RESTART_ONLY("queue.own_mark", own_mark),
	RESTART_ONLY("table.max_flows", max_flows),
	RESTART_ONLY("control.socket", control_socket),
	RESTART_ONLY("metrics.listen", metrics_listen),
	RESTART_ONLY("log.pcap", drop_pcap_path),
	RESTART_ONLY("log.pcap_max_mb", drop_pcap_max_mb),
};

/* Warns about each restart-only setting that changed, then keeps its running value in fresh. */
static void keep_restart_only(struct hs_diag *diag, const struct hs_config *running, struct hs_config *fresh)
{
	const char *last_reported = NULL;

	for (size_t i = 0; i < sizeof(restart_only) / sizeof(restart_only[0]); i++) {
		const struct restart_only *r = &restart_only[i];
		const char *old = (const char *)running + r->offset;
		char *new = (char *)fresh + r->offset;

		if (memcmp(old, new, r->size) == 0)
			continue;
		if (last_reported != r->name)
			hs_diag_report(diag, HS_DIAG_WARNING, 0, 0, 0, "%s changed: takes effect after a restart",
				       r->name);
		last_reported = r->name;
		memcpy(new, old, r->size);
	}
}

/* The daemon never touches the firewall; handshaked-rules does, when the service starts. */
static void note_rules_changed(struct hs_diag *diag, const struct hs_config *old, const struct hs_config *new)
{
	if (old->rules_nchains != new->rules_nchains || old->rules_n_in != new->rules_n_in ||
	    old->rules_n_out != new->rules_n_out || old->rules_ipv4 != new->rules_ipv4 ||
	    old->rules_ipv6 != new->rules_ipv6 || old->rules_include_loopback != new->rules_include_loopback ||
	    memcmp(old->rules_chains, new->rules_chains, sizeof(old->rules_chains)) != 0 ||
	    memcmp(old->rules_in_interfaces, new->rules_in_interfaces, sizeof(old->rules_in_interfaces)) != 0 ||
	    memcmp(old->rules_out_interfaces, new->rules_out_interfaces, sizeof(old->rules_out_interfaces)) != 0)
		hs_diag_report(diag, HS_DIAG_WARNING, 0, 0, 0,
			       "rules changed: takes effect when handshaked-rules runs again (a service restart)");
}

static int reload(struct hs_daemon *d, struct hs_diag *diag);

/*
 * systemd is told a reload is under way and, whatever its outcome, that
 * the daemon is ready again: a refused file leaves the old configuration
 * running, which is still a ready service.  The status line says which.
 */
int hs_daemon_reload(struct hs_daemon *d, struct hs_diag *diag)
{
	if (d->notify)
		hs_notify_reloading(d->notify);
	int rc = reload(d, diag);
	/* Logged here, once, however the reload was asked for (SIGHUP or handshakectl). */
	if (rc == 0)
		log_notice("configuration reloaded from %s", d->config_path);
	else
		log_warnx("reload of %s failed; the running configuration is kept", d->config_path);
	if (d->notify) {
		char status[HS_PATH_MAX + 64];
		snprintf(status, sizeof(status), rc == 0 ? "configuration reloaded from %s"
							 : "reload of %s refused; running configuration kept",
			 d->config_path);
		hs_notify_ready(d->notify, status);
	}
	return rc;
}

static int reload(struct hs_daemon *d, struct hs_diag *diag)
{
	struct hs_config fresh;
	char err[HS_PATH_MAX + 128];

	if (hs_config_load(d->config_path, &fresh, diag) < 0) {
		d->reload_failures++;
		return -1;
	}
	/*
	 * New limits and rates may need more of the engines' tables than the
	 * start counted; they are held to the limit found then (what is
	 * available now leaves out what the tables already hold).
	 */
	uint64_t need = hs_memory_tables_at_most(d->config.max_flows, &fresh.policies, d->nworkers);
	if (hs_memory_budget_check(need, d->memory_limit, d->memory_limit_source, d->config.max_flows, d->nworkers, err,
				   sizeof(err)) < 0) {
		hs_diag_report(diag, HS_DIAG_ERROR, 0, 0, 0, "%s", err);
		d->reload_failures++;
		return -1;
	}
	bool owned = false;
	int fd = d->events_fd;
	bool events_changed = fresh.events_mode != d->config.events_mode ||
			      strcmp(fresh.events_path, d->config.events_path) != 0;
	if (events_changed) {
		fd = open_events(&fresh, &owned, err, sizeof(err));
		if (fd == -2) {
			hs_diag_report(diag, HS_DIAG_ERROR, 0, 0, 0, "%s", err);
			d->reload_failures++;
			return -1;
		}
	}
	const struct hs_policy *local = local_policy_without_addrs(d, &fresh.policies);
	if (local)
		hs_diag_report(diag, HS_DIAG_WARNING, 0, 0, 0, NO_LOCAL_ADDRS_WARNING, local->name, local->line);
	note_rules_changed(diag, &d->config, &fresh);
	struct hs_config applied = fresh;
	keep_restart_only(diag, &d->config, &applied);

	for (uint32_t i = 0; i < d->nworkers; i++)
		hs_worker_apply(d->workers[i], &applied, fd);
	if (events_changed) {
		if (d->events_fd_owned)
			close(d->events_fd);
		d->events_fd = fd;
		d->events_fd_owned = owned;
	}
	log_set_level(applied.log_level);
	hs_state_store_configure(&d->state, &applied, hs_now_ms());
	d->config = applied;
	d->reloads++;
	return 0;
}

void hs_daemon_stop(struct hs_daemon *d)
{
	/* First the control socket: its clients' answers may still be reading the workers. */
	hs_control_close(d->control);
	d->control = NULL;
	hs_watch_free(d->watch);
	d->watch = NULL;
	hs_addr_watch_close(&d->addrs);
	hs_metrics_http_close(d->metrics_http);
	d->metrics_http = NULL;
	for (uint32_t i = 0; i < d->nworkers && d->workers; i++)
		hs_worker_destroy(d->workers[i]);
	free(d->workers);
	d->workers = NULL;
	/* After the workers, which may have been consulting it. */
	hs_state_store_free(&d->state);
	/* After the workers: what they dropped last is still written. */
	hs_drop_pcap_close(d->drop_pcap);
	d->drop_pcap = NULL;
	if (d->events_fd_owned)
		close(d->events_fd);
	d->events_fd = -1;
}
