/*
 * connrate: connections per second with real, short-lived TCP connections,
 * for the end-to-end benchmark.
 *
 *   connrate server --port P
 *       accepts connections and closes each one at once, until SIGTERM or
 *       SIGINT.
 *   connrate client --dst A.B.C.D --port P [--duration S] [--parallel K]
 *                   [--close wait|rst]
 *       keeps K connection attempts in flight for S seconds and prints how
 *       many connections completed per second.
 *
 * Close modes: with "wait" (the default) the client waits for the server's
 * FIN and then closes too, so every connection goes through the whole life
 * of a TCP connection (handshake, FIN from each side) and the TIME_WAIT state
 * stays on the server, which leaves the client's ports free for reuse at
 * once.  With "rst" the client closes right after the handshake with
 * SO_LINGER 0, which sends a RST and also avoids TIME_WAIT.
 *
 * Several connections in flight at once make the figure a measure of
 * throughput, not of one round trip through the queue.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PARALLEL 4096

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return !errno && end != s && !*end && *out <= max;
}

static int run_server(uint16_t port)
{
	int one = 1;
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port),
				    .sin_addr.s_addr = htonl(INADDR_ANY) };

	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(lfd, 4096) < 0) {
		fprintf(stderr, "connrate server: listen on port %u: %s\n", port, strerror(errno));
		return 1;
	}
	/* No SA_RESTART: accept must return EINTR so the loop sees the stop flag. */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	printf("connrate server: listening on port %u\n", port);
	fflush(stdout);
	uint64_t accepted = 0, errors = 0;
	while (!stop_requested) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EINTR)
				errors++;
			continue;
		}
		accepted++;
		close(fd);
	}
	close(lfd);
	printf("connrate server: accepted %llu errors %llu\n", (unsigned long long)accepted,
	       (unsigned long long)errors);
	return 0;
}

struct slot {
	int fd;
	bool connected;     /* the handshake is done; waiting for the server's FIN */
};

/* Starts a non-blocking connection attempt in slot s; returns false if even the socket failed. */
static bool start_connect(int ep, struct slot *slots, uint32_t s, const struct sockaddr_in *dst)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return false;
	if (connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) < 0 && errno != EINPROGRESS) {
		close(fd);
		return false;
	}
	struct epoll_event ev = { .events = EPOLLOUT, .data.u32 = s };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		return false;
	}
	slots[s].fd = fd;
	slots[s].connected = false;
	return true;
}

static int run_client(const struct sockaddr_in *dst, double duration, unsigned long parallel, bool rst)
{
	static struct slot slots[MAX_PARALLEL];
	struct epoll_event evs[256];
	uint64_t done = 0, failed = 0;
	unsigned long idle = 0;     /* slots whose next attempt could not be started yet */
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0) {
		fprintf(stderr, "connrate client: epoll: %s\n", strerror(errno));
		return 1;
	}
	double start = now_s(), stop = start + duration, t = start;

	for (uint32_t s = 0; s < parallel; s++) {
		if (!start_connect(ep, slots, s, dst)) {
			fprintf(stderr, "connrate client: connect: %s\n", strerror(errno));
			return 1;
		}
	}
	while (t < stop) {
		int n = epoll_wait(ep, evs, 256, 100);

		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "connrate client: epoll_wait: %s\n", strerror(errno));
			return 1;
		}
		for (int i = 0; i < n; i++) {
			uint32_t s = evs[i].data.u32;
			struct slot *sl = &slots[s];
			bool finished = false;

			if (!sl->connected) {
				int err = 0;
				socklen_t len = sizeof(err);

				getsockopt(sl->fd, SOL_SOCKET, SO_ERROR, &err, &len);
				if (err != 0) {
					failed++;
					finished = true;
				} else if (rst) {
					/* SO_LINGER with a zero timeout turns close into a RST. */
					struct linger lg = { .l_onoff = 1, .l_linger = 0 };

					setsockopt(sl->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
					done++;
					finished = true;
				} else {
					struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.u32 = s };

					sl->connected = true;
					epoll_ctl(ep, EPOLL_CTL_MOD, sl->fd, &ev);
				}
			} else {
				/* The server closes at once: any readable event is its FIN (or a reset). */
				char buf[64];
				ssize_t r = read(sl->fd, buf, sizeof(buf));

				if (r == 0)
					done++;
				else if (r < 0 && errno == EAGAIN)
					continue;
				else
					failed++;
				finished = true;
			}
			if (finished) {
				/* Closing the descriptor also takes it out of the epoll set. */
				close(sl->fd);
				sl->fd = -1;
				if (!start_connect(ep, slots, s, dst)) {
					failed++;
					idle++;
				}
			}
		}
		/* A slot that could not start (no free port, say) is retried on the next round. */
		for (uint32_t s = 0; idle > 0 && s < parallel; s++) {
			if (slots[s].fd < 0 && start_connect(ep, slots, s, dst))
				idle--;
		}
		t = now_s();
	}
	double elapsed = t - start;
	/* The client's CPU time, so the caller can tell its own load from another workload's. */
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
		     (double)ru.ru_stime.tv_usec / 1e6;

	for (uint32_t s = 0; s < parallel; s++)
		if (slots[s].fd >= 0)
			close(slots[s].fd);
	close(ep);
	printf("connrate client: connections %llu elapsed %.6f per_second %.0f failed %llu parallel %lu close %s"
	       " cpu_s %.3f\n",
	       (unsigned long long)done, elapsed, (double)done / elapsed, (unsigned long long)failed, parallel,
	       rst ? "rst" : "wait", cpu);
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: connrate server --port P\n"
		     "       connrate client --dst A.B.C.D --port P [--duration S] [--parallel K]"
		     " [--close wait|rst]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dst", required_argument, NULL, 'd' },
		{ "port", required_argument, NULL, 'p' },
		{ "duration", required_argument, NULL, 't' },
		{ "parallel", required_argument, NULL, 'k' },
		{ "close", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sockaddr_in dst = { .sin_family = AF_INET };
	unsigned long port = 5001, parallel = 64;
	double duration = 3.0;
	bool have_dst = false, rst = false;
	int opt;

	if (argc < 2 || (strcmp(argv[1], "server") != 0 && strcmp(argv[1], "client") != 0)) {
		usage(stderr);
		return 2;
	}
	bool server = strcmp(argv[1], "server") == 0;
	optind = 2;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		bool ok = true;
		char *end;

		switch (opt) {
		case 'd':
			ok = have_dst = inet_pton(AF_INET, optarg, &dst.sin_addr) == 1;
			break;
		case 'p':
			ok = parse_ulong(optarg, 65535, &port) && port > 0;
			break;
		case 'k':
			ok = parse_ulong(optarg, MAX_PARALLEL, &parallel) && parallel > 0;
			break;
		case 't':
			errno = 0;
			duration = strtod(optarg, &end);
			ok = !errno && end != optarg && !*end && duration > 0 && duration < 3600;
			break;
		case 'c':
			ok = strcmp(optarg, "wait") == 0 || strcmp(optarg, "rst") == 0;
			rst = strcmp(optarg, "rst") == 0;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (!ok) {
			fprintf(stderr, "connrate: bad value '%s'\n", optarg);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (server)
		return run_server((uint16_t)port);
	if (!have_dst) {
		usage(stderr);
		return 2;
	}
	dst.sin_port = htons((uint16_t)port);
	return run_client(&dst, duration, parallel, rst);
}
