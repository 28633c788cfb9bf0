/*
 * handshakectl: the operator's command line for a running handshaked.  It
 * checks the request with the daemon's own parser (hs_ctl_request.h), so a
 * bad state, CIDR, port or option is refused here, naming the argument,
 * before anything is sent; sends it over the control socket; and shows the
 * answer, the daemon's JSON as it is (--json) or formatted for people
 * (hs_ctl_output.h).  Exit status: 0 when the daemon answered "ok", 1 when
 * it refused (its reason on stderr), 2 for a usage or connection problem.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "hs_config.h"
#include "hs_control.h"
#include "hs_ctl_output.h"
#include "hs_ctl_request.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: handshakectl [-s SOCKET] COMMAND [OPTIONS]\n"
		"%s"
		"  -s SOCKET  control socket (default %s)\n"
		"see handshakectl(8) for every command, filter and output\n",
		hs_ctl_usage, HS_DEFAULT_CONTROL_SOCKET);
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The request as one line of words; -1 if it does not fit. */
static int build_line(char *line, size_t size, int argc, char **argv)
{
	size_t len = 0;

	for (int i = 0; i < argc; i++) {
		int n = snprintf(line + len, size - len, "%s%s", len ? " " : "", argv[i]);
		if (n < 0 || (size_t)n >= size - len - 1)
			return -1;
		len += (size_t)n;
	}
	line[len++] = '\n';
	line[len] = '\0';
	return (int)len;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "handshakectl: socket path too long: %s\n", path);
		return -1;
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "handshakectl: cannot connect to %s: %s (is handshaked running?)\n", path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Whether the body is JSON Lines this CLI formats; the others (metrics, reload, save, ping) pass through. */
static bool formatted(const struct hs_ctl_request *req)
{
	switch (req->verb) {
	case HS_CTL_STATS:
	case HS_CTL_LIST:
	case HS_CTL_COUNT:
	case HS_CTL_SUMMARY:
	case HS_CTL_TOP:
	case HS_CTL_WATCH:
	case HS_CTL_KILL:
		return true;
	default:
		return false;
	}
}

/*
 * Reads the answer: its status line, then the body, line by line into the
 * output form (or passed through).  Returns the exit status.
 */
static int read_answer(int fd, const struct hs_ctl_request *req, struct hs_ctl_output *out)
{
	static char buf[1 << 20];
	size_t have = 0;
	bool in_body = false;
	int rc = 2;

	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
		size_t start = 0;
		char *nl;
		while ((nl = memchr(buf + start, '\n', have - start))) {
			size_t len = (size_t)(nl - (buf + start));
			const char *line = buf + start;
			start += len + 1;
			if (!in_body) {
				in_body = true;
				if (len == 2 && memcmp(line, "ok", 2) == 0) {
					rc = 0;
				} else {
					bool prefixed = len >= 7 && memcmp(line, "error: ", 7) == 0;
					fprintf(stderr, "handshakectl: %.*s\n", (int)(prefixed ? len - 7 : len), prefixed ? line + 7 : line);
					rc = 1;
				}
				continue;
			}
			if (rc != 0)
				fprintf(stderr, "%.*s\n", (int)len, line);
			else if (formatted(req))
				hs_ctl_output_line(out, line, len);
			else
				printf("%.*s\n", (int)len, line);
		}
		/* A line longer than the buffer is no line the daemon writes: pass it on as it is. */
		if (start == 0 && have == sizeof(buf)) {
			fwrite(buf, 1, have, rc == 0 ? stdout : stderr);
			have = 0;
		} else {
			memmove(buf, buf + start, have - start);
			have -= start;
		}
	}
	if (have && in_body)
		fprintf(rc == 0 ? stdout : stderr, "%.*s\n", (int)have, buf);
	if (!in_body) {
		fprintf(stderr, "handshakectl: no answer from the daemon\n");
		return 2;
	}
	if (rc == 0 && formatted(req))
		hs_ctl_output_finish(out);
	return rc;
}

int main(int argc, char **argv)
{
	const char *path = HS_DEFAULT_CONTROL_SOCKET;
	int i = 1;

	if (i < argc && (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)) {
		usage(stdout);
		return 0;
	}
	if (i + 1 < argc && strcmp(argv[i], "-s") == 0) {
		path = argv[i + 1];
		i += 2;
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}

	/* What the daemon would refuse for its length is refused here too, before it is read. */
	char line[HS_CONTROL_MAX_LINE + 1];
	int len = build_line(line, sizeof(line), argc - i, argv + i);
	if (len < 0 || len >= HS_CONTROL_MAX_LINE) {
		fprintf(stderr, "handshakectl: command too long (at most %d bytes)\n", HS_CONTROL_MAX_LINE - 1);
		return 2;
	}
	static struct hs_ctl_request req;
	char err[512];
	if (!hs_ctl_request_parse(&req, argc - i, argv + i, err, sizeof(err))) {
		fprintf(stderr, "handshakectl: %s\n", err);
		return 2;
	}
	/* A watcher stopped by its reader going away ends quietly. */
	signal(SIGPIPE, SIG_DFL);

	int fd = connect_to(path);
	if (fd < 0)
		return 2;
	if (write_all(fd, line, (size_t)len) < 0) {
		fprintf(stderr, "handshakectl: sending the command: %s\n", strerror(errno));
		close(fd);
		return 2;
	}
	shutdown(fd, SHUT_WR);

	struct hs_ctl_output out;
	if (!hs_ctl_output_init(&out, &req, stdout)) {
		fprintf(stderr, "handshakectl: out of memory\n");
		close(fd);
		return 2;
	}
	int rc = read_answer(fd, &req, &out);
	hs_ctl_output_release(&out);
	close(fd);
	return rc;
}
