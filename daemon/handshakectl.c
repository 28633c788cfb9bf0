/*
 * handshakectl: the operator's command line for a running handshaked.  It
 * sends one command over the control socket and prints the answer; the
 * exit status is 0 when the daemon answered "ok", 1 on an error from the
 * daemon, 2 on a usage or connection problem.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "hs_config.h"
#include "hs_control.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: handshakectl [-s SOCKET] COMMAND\n"
		"  list [--json] [FILTERS]         the flow table (JSON Lines with --json); FILTERS, all must hold:\n"
		"      --state S          either endpoint in state S\n"
		"      --client-state S   the client (sent the first SYN) in S; --server-state S likewise\n"
		"      --local-state S    this host's own endpoint in S (end host; nothing on a router)\n"
		"      --remote-state S   the peer of this host's own endpoint in S\n"
		"  stats [--json]                  counters: packets, invalid by reason, flows, queue\n"
		"  kill ID                         remove one flow\n"
		"  reload                          re-read the configuration (errors are shown)\n"
		"  save                            write a snapshot of the table to state.dir now\n"
		"  metrics                         counters in the Prometheus text format\n"
		"  ping                            check that the daemon answers\n"
		"  -s SOCKET  control socket (default %s)\n",
		HS_DEFAULT_CONTROL_SOCKET);
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

	char line[HS_CONTROL_MAX_LINE];
	size_t len = 0;
	for (; i < argc; i++) {
		int n = snprintf(line + len, sizeof(line) - len, "%s%s", len ? " " : "", argv[i]);
		if (n < 0 || (size_t)n >= sizeof(line) - len - 1) {
			fprintf(stderr, "handshakectl: command too long\n");
			return 2;
		}
		len += (size_t)n;
	}
	line[len++] = '\n';

	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "handshakectl: socket path too long: %s\n", path);
		return 2;
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "handshakectl: cannot connect to %s: %s (is handshaked running?)\n", path,
			strerror(errno));
		return 2;
	}
	if (write_all(fd, line, len) < 0) {
		fprintf(stderr, "handshakectl: sending the command: %s\n", strerror(errno));
		return 2;
	}
	shutdown(fd, SHUT_WR);

	/* The first line is the status; the rest is the body, passed through. */
	char buf[65536];
	char status[512];
	size_t slen = 0;
	bool in_body = false;
	int rc = 2;
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		size_t off = 0;
		if (!in_body) {
			while (off < (size_t)n && buf[off] != '\n') {
				if (slen < sizeof(status) - 1)
					status[slen++] = buf[off];
				off++;
			}
			if (off < (size_t)n) {
				off++;
				in_body = true;
				status[slen] = '\0';
				if (strcmp(status, "ok") == 0) {
					rc = 0;
				} else {
					fprintf(stderr, "handshakectl: %s\n", strncmp(status, "error: ", 7) == 0 ? status + 7 : status);
					rc = 1;
				}
			}
		}
		if (in_body && off < (size_t)n) {
			FILE *out = rc == 0 ? stdout : stderr;
			fwrite(buf + off, 1, (size_t)n - off, out);
		}
	}
	if (!in_body) {
		fprintf(stderr, "handshakectl: no answer from the daemon\n");
		return 2;
	}
	close(fd);
	return rc;
}
