/*
 * hs_config: the daemon's configuration.  It owns the in-memory form of
 * handshaked.yaml, its defaults, and the loader that parses and validates a
 * whole file (libyaml) into a fresh struct before anything uses it, so that a
 * bad file never replaces a good configuration.
 */
#ifndef HS_CONFIG_H
#define HS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs_diag.h"
#include "hs_log.h"
#include "hs_match_values.h"
#include "hs_policy.h"
#include "hs_table.h"

#define HS_DEFAULT_CONFIG_PATH "/etc/handshaked/handshaked.yaml"
#define HS_DEFAULT_CONTROL_SOCKET "/run/handshaked/control.sock"
#define HS_PATH_MAX 256
#define HS_MAX_QUEUES 64             /* workers (queues in a range) at most */
/*
 * The firewall mark (SO_MARK) on every packet the daemon sends itself (its
 * RSTs), so that the NFQUEUE rules can leave them out and, where a rule
 * queues them anyway, the daemon recognises them by the mark the queue
 * reports.  0x4853 is "HS".
 */
#define HS_DEFAULT_OWN_MARK 0x4853u

/* The names log.level takes, indexed by enum hs_log_level. */
extern const char *const hs_config_level_names[HS_LOG_DEBUG + 1];

enum hs_events_mode { HS_EVENTS_STDERR = 0, HS_EVENTS_OFF, HS_EVENTS_FILE };

struct hs_config {
	/* queue: */
	uint16_t queue_first;       /* num: 3, or "0-1" for a range, one worker each */
	uint16_t queue_last;
	bool fail_open;             /* default true */
	uint32_t copy_range;        /* default 128 */
	uint32_t queue_maxlen;      /* default 8192 */
	uint32_t own_mark;          /* SO_MARK of the daemon's own packets; default HS_DEFAULT_OWN_MARK */
	/* control: */
	char control_socket[HS_PATH_MAX];
	/* log: */
	enum hs_log_level log_level;        /* default info */
	enum hs_events_mode events_mode;    /* default stderr */
	char events_path[HS_PATH_MAX];      /* with HS_EVENTS_FILE: JSON Lines file */
	char drop_pcap_path[HS_PATH_MAX];   /* pcap: the packets the daemon drops; "" = off (the default) */
	uint32_t drop_pcap_max_mb;          /* pcap_max_mb: rotate to FILE.1 past this size; default 64 */
	/* table: */
	uint32_t max_flows;         /* default 262144 */
	bool pickup;                /* default true */
	bool strict;                /* default false: invalid packets are accepted and counted */
	uint32_t timeout_ms[HS_TIMEOUT_CLASS_COUNT];
	/* rules: the NFQUEUE rules handshaked-rules installs (systemd ExecStartPre/ExecStopPost) */
	uint8_t rules_nchains;
	char rules_chains[4][12];           /* "FORWARD", "INPUT", "OUTPUT", "PREROUTING"; default FORWARD */
	uint8_t rules_n_in, rules_n_out;
	char rules_in_interfaces[8][16];    /* iptables -i, optional */
	char rules_out_interfaces[8][16];   /* iptables -o, optional */
	bool rules_ipv4, rules_ipv6;        /* default both */
	bool rules_include_loopback;        /* default false: INPUT/OUTPUT rules leave lo out */
	/* state: snapshots of the flow table, so that a restart keeps it (state_store.c) */
	char state_dir[HS_PATH_MAX];        /* dir: where; "" = off (the default; the shipped file sets /var/lib/handshaked) */
	uint32_t state_interval_ms;         /* interval: a periodic save; 0 = only on stop and on demand; default 60 s */
	uint32_t state_max_age_ms;          /* max_age: an older snapshot is not loaded; default 5 min */
	/* metrics: */
	char metrics_listen[64];            /* "127.0.0.1:9547" serves Prometheus text over HTTP; "" = off */
	/* policies: (file order) */
	struct hs_policy_set policies;
};

/* Fills every field with its default. */
void hs_config_defaults(struct hs_config *config);

/*
 * The table's part of a configuration (max_flows, pickup, timeouts); the
 * hash key and the id sequence are the caller's to set.
 */
void hs_table_config_from(struct hs_table_config *tc, const struct hs_config *config);

/*
 * Parses YAML text (UTF-8, one document) into config: defaults first, then
 * the file's values.  Every problem found is reported to diag, which the
 * caller has initialised (with the same text, for underlines): the whole
 * text is checked, not just up to the first error, except that a YAML
 * syntax error ends parsing because nothing after it can be trusted.
 * Warnings (for example a copy_range that may cut TCP headers) are reported
 * but do not fail.  Returns 0 if no error was reported, -1 otherwise; on
 * error *config is left exactly as it was.
 */
int hs_config_parse(const char *text, size_t len, struct hs_config *config, struct hs_diag *diag);

/*
 * Reads (at most 1 MiB) and parses a file; path NULL means
 * HS_DEFAULT_CONFIG_PATH.  diag is initialised here with the file's name and
 * contents, even when the file cannot be read (that error has no position);
 * the caller frees it with hs_diag_free.
 */
int hs_config_load(const char *path, struct hs_config *config, struct hs_diag *diag);

#endif
