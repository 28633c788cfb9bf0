/*
 * hs_log: the daemon's log.  Lines go to stderr with their level; under
 * systemd (JOURNAL_STREAM set) each line starts with a "<N>" syslog priority
 * so journald files it at the right level.  The API follows OpenBSD's:
 * log_warn appends strerror(errno), log_warnx does not, fatal exits.
 */
#ifndef HS_LOG_H
#define HS_LOG_H

#include "hs_config.h"

void log_init(enum hs_log_level level);
void log_set_level(enum hs_log_level level);
enum hs_log_level log_get_level(void);
bool log_enabled(enum hs_log_level level);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
