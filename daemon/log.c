/*
 * log: leveled logging to stderr, with syslog priority prefixes when
 * journald reads our stderr.  Each line is written with one write() so
 * lines from several worker threads never interleave.
 */
#include "hs_log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static enum hs_log_level current_level = HS_LOG_INFO;
static bool journal_prefix;

/* syslog priorities for our levels: err, warning, notice, info, debug. */
static const int priorities[] = { 3, 4, 5, 6, 7 };
static const char *const level_names[] = { "error", "warning", "notice", "info", "debug" };

void log_init(enum hs_log_level level)
{
	current_level = level;
	/* systemd sets JOURNAL_STREAM when stderr is connected to the journal. */
	journal_prefix = getenv("JOURNAL_STREAM") != NULL;
}

void log_set_level(enum hs_log_level level)
{
	current_level = level;
}

enum hs_log_level log_get_level(void)
{
	return current_level;
}

bool log_enabled(enum hs_log_level level)
{
	return level <= current_level;
}

static void vlog(enum hs_log_level level, int errnum, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
static void vlog(enum hs_log_level level, int errnum, const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	if (!log_enabled(level))
		return;
	if (journal_prefix)
		n = snprintf(line, sizeof(line), "<%d>", priorities[level]);
	else
		n = snprintf(line, sizeof(line), "handshaked: %s: ", level_names[level]);
	if (n < 0)
		return;
	size_t used = (size_t)n;
	int m = vsnprintf(line + used, sizeof(line) - used, fmt, ap);
	if (m > 0)
		used += (size_t)m < sizeof(line) - used ? (size_t)m : sizeof(line) - used - 1;
	if (errnum && used < sizeof(line) - 1) {
		m = snprintf(line + used, sizeof(line) - used, ": %s", strerror(errnum));
		if (m > 0)
			used += (size_t)m < sizeof(line) - used ? (size_t)m : sizeof(line) - used - 1;
	}
	if (used >= sizeof(line) - 1)
		used = sizeof(line) - 2;
	line[used++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, used);
	(void)w;
}

#define DEFINE_LOG(name, level, with_errno)                 \
	void name(const char *fmt, ...)                     \
	{                                                   \
		int saved = errno;                          \
		va_list ap;                                 \
		va_start(ap, fmt);                          \
		vlog(level, with_errno ? saved : 0, fmt, ap); \
		va_end(ap);                                 \
		errno = saved;                              \
	}

DEFINE_LOG(log_warn, HS_LOG_WARNING, true)
DEFINE_LOG(log_warnx, HS_LOG_WARNING, false)
DEFINE_LOG(log_notice, HS_LOG_NOTICE, false)
DEFINE_LOG(log_info, HS_LOG_INFO, false)
DEFINE_LOG(log_debug, HS_LOG_DEBUG, false)
DEFINE_LOG(log_error, HS_LOG_ERROR, false)

void log_episode_init(struct log_episode *ep, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ep->what, sizeof(ep->what), fmt, ap);
	va_end(ap);
	ep->failing = false;
	ep->failures = 0;
}

void log_episode_fail(struct log_episode *ep, int errnum)
{
	ep->failures++;
	if (ep->failing)
		return;
	ep->failing = true;
	if (errnum)
		log_warnx("%s: %s (further failures are counted, not logged, until it works again)", ep->what,
			  strerror(errnum));
	else
		log_warnx("%s failed (further failures are counted, not logged, until it works again)", ep->what);
}

void log_episode_recovered(struct log_episode *ep)
{
	log_notice("%s: works again after %llu failure(s)", ep->what, (unsigned long long)ep->failures);
	ep->failing = false;
	ep->failures = 0;
}

void fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(HS_LOG_ERROR, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(HS_LOG_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
