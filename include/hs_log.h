/*
 * hs_log: the daemon's log.  Lines go to stderr with their level; under
 * systemd (JOURNAL_STREAM set) each line starts with a "<N>" syslog priority
 * so journald files it at the right level.  The API follows OpenBSD's:
 * log_warn appends strerror(errno), log_warnx does not, fatal exits.
 */
#ifndef HS_LOG_H
#define HS_LOG_H

#include <stdbool.h>
#include <stdint.h>

/* log.level's values; each level includes the ones before it. */
enum hs_log_level { HS_LOG_ERROR = 0, HS_LOG_WARNING, HS_LOG_NOTICE, HS_LOG_INFO, HS_LOG_DEBUG };

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
/*
 * A failure that can repeat many times a second (verdicts the queue socket
 * refuses, RSTs the kernel will not take) is logged once when an episode of
 * it begins and once when it ends, with how often it happened in between;
 * the counters in stats and metrics show every single one.
 */
struct log_episode {
	char what[96];              /* "queue 3: sending verdicts" */
	bool failing;
	uint64_t failures;          /* in the current episode */
};
void log_episode_init(struct log_episode *ep, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* One more failure (errnum 0 if there is no errno); logged if it starts an episode. */
void log_episode_fail(struct log_episode *ep, int errnum);
/* Ends an episode that was going on, with a line saying so. */
void log_episode_recovered(struct log_episode *ep);
/*
 * It worked: ends the episode, if one was going on.  Inline, since the
 * packet path says so twice a burst and an episode is rare.
 */
static inline void log_episode_ok(struct log_episode *ep)
{
	if (ep->failing)
		log_episode_recovered(ep);
}

void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
