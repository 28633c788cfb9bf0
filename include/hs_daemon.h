/*
 * hs_daemon: the running daemon as a whole.  It owns the current
 * configuration, the queue workers, the event log's file and the control
 * socket, and the two operations that touch all of them: start and reload.
 * A reload parses and validates the whole new file into a fresh struct and
 * only then applies it, so a bad file changes nothing.
 */
#ifndef HS_DAEMON_H
#define HS_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include "hs_addr_watch.h"
#include "hs_config.h"
#include "hs_diag.h"
#include "hs_drop_pcap.h"
#include "hs_metrics.h"
#include "hs_state_store.h"
#include "hs_worker.h"

struct hs_metrics_http;
struct hs_watch;
struct hs_notify;

struct hs_daemon {
	char config_path[HS_PATH_MAX];
	struct hs_config config;
	struct hs_worker **workers;
	uint32_t nworkers;
	int events_fd;              /* -1 when events are off */
	bool events_fd_owned;       /* a file we opened (not stderr) */
	struct hs_control *control;         /* the control socket and its clients */
	struct hs_watch *watch;             /* handshakectl watch: the watchers and the workers' event rings */
	struct hs_metrics_http *metrics_http;   /* NULL unless metrics.listen is set */
	struct hs_drop_pcap *drop_pcap;         /* NULL unless log.pcap is set */
	/*
	 * Where reloads are announced (RELOADING=1, then READY=1) whichever way
	 * they were asked for: SIGHUP or the control socket.  NULL: nowhere.
	 */
	const struct hs_notify *notify;
	uint64_t started_ms;
	uint64_t reloads, reload_failures;
	/* What the tables may take, found at start (hs_memory_budget.h), and what set it. */
	uint64_t memory_limit;
	char memory_limit_source[64];
	struct hs_state_store state;    /* snapshots of the tables in state.dir */
	/* The host's addresses; every worker's table holds a copy of addrs.set. */
	struct hs_addr_watch addrs;
};

/* Binds the queues, starts the workers, opens the control socket and the metrics listener. */
int hs_daemon_start(struct hs_daemon *d, const char *config_path, const struct hs_config *config,
		    char *err, size_t errlen);

/*
 * Re-reads the configuration file.  Returns 0 if it was applied (warnings,
 * such as settings that need a restart, may be in diag), -1 if it had
 * errors and the running configuration was kept.  diag is initialised
 * here; the caller frees it.
 */
int hs_daemon_reload(struct hs_daemon *d, struct hs_diag *diag);

void hs_daemon_stop(struct hs_daemon *d);

/*
 * The daemon's numbers for stats, metrics and the status line: the
 * workers' (hs_metrics_collect_workers) and its own.  Free with
 * hs_metrics_snapshot_free.
 */
void hs_daemon_snapshot(struct hs_daemon *d, struct hs_metrics_snapshot *s, bool by_state);

/*
 * Writes a snapshot of every worker's table to state.dir (handshakectl
 * save, the periodic save, and the stop).  0, or -1 with the reason.
 */
int hs_daemon_save(struct hs_daemon *d, char *err, size_t errlen);

/*
 * The address watch's descriptor became readable: applies the changes and,
 * if the host's addresses changed, gives every worker's table the new set.
 */
void hs_daemon_addrs_changed(struct hs_daemon *d);

#endif
