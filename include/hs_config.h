/*
 * hs_config: the daemon's configuration.  It owns the in-memory form of
 * handshaked.yaml, its defaults, and the loader that parses and validates a
 * whole file (libyaml) into a fresh struct before anything uses it, so that a
 * bad file never replaces a good configuration.
 */
#ifndef HS_CONFIG_H
#define HS_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "hs_diag.h"
#include "hs_table.h"

#define HS_DEFAULT_CONFIG_PATH "/etc/handshaked/handshaked.yaml"
#define HS_DEFAULT_CONTROL_SOCKET "/run/handshaked/control.sock"
#define HS_PATH_MAX 256

enum hs_log_level { HS_LOG_ERROR = 0, HS_LOG_WARNING, HS_LOG_NOTICE, HS_LOG_INFO, HS_LOG_DEBUG };

enum hs_events_mode { HS_EVENTS_STDERR = 0, HS_EVENTS_OFF, HS_EVENTS_FILE };

struct hs_config {
	/* queue: */
	uint16_t queue_first;       /* num: 3, or "0-1" for a range, one worker each */
	uint16_t queue_last;
	bool fail_open;             /* default true */
	uint32_t copy_range;        /* default 128 */
	uint32_t queue_maxlen;      /* default 8192 */
	/* control: */
	char control_socket[HS_PATH_MAX];
	/* log: */
	enum hs_log_level log_level;        /* default info */
	enum hs_events_mode events_mode;    /* default stderr */
	char events_path[HS_PATH_MAX];      /* with HS_EVENTS_FILE: JSON Lines file */
	/* table: */
	uint32_t max_flows;         /* default 262144 */
	bool pickup;                /* default true */
	bool strict;                /* default false: invalid packets are accepted and counted */
	uint32_t timeout_ms[HS_TIMEOUT_CLASS_COUNT];
};

/* Fills every field with its default. */
void hs_config_defaults(struct hs_config *config);

/*
 * Parses YAML text into config (defaults first, then the file's values).
 * Every problem found is reported to diag (the whole text is checked, not
 * just up to the first error).  Returns 0 if there were no errors, -1
 * otherwise; on error *config holds no meaningful values.
 */
int hs_config_parse(const char *text, size_t len, struct hs_config *config, struct hs_diag *diag);

/*
 * Reads and parses a file.  diag is initialised here with the file's name
 * and contents; the caller frees it with hs_diag_free.
 */
int hs_config_load(const char *path, struct hs_config *config, struct hs_diag *diag);

/* Parses a duration: 30, "30s", "500ms", "5m", "2h", "1d" into milliseconds. */
bool hs_parse_duration_ms(const char *text, uint64_t *ms);

#endif
