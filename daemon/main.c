/*
 * handshaked: command line, configuration check, and the main thread's
 * loop, which owns the signals (through a signalfd) and the control socket
 * while the queue workers run the packet path in their own threads.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "hs_config.h"
#include "hs_control.h"
#include "hs_daemon.h"
#include "hs_log.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: handshaked [-c FILE] [-t] [-v]\n"
		"  -c FILE  configuration file (default %s)\n"
		"  -t       check the configuration and exit: 0 and \"configuration OK\", or the errors\n"
		"  -v       verbose: log at debug level\n",
		HS_DEFAULT_CONFIG_PATH);
}

static int check_config(const char *path)
{
	struct hs_config config;
	struct hs_diag diag;
	int rc = hs_config_load(path, &config, &diag);

	fputs(hs_diag_text(&diag), stderr);
	if (rc == 0)
		printf("configuration OK\n");
	hs_diag_free(&diag);
	return rc == 0 ? 0 : 1;
}

static void reload(struct hs_daemon *d)
{
	struct hs_diag diag;

	if (hs_daemon_reload(d, &diag) == 0)
		log_notice("configuration reloaded from %s", d->config_path);
	else
		log_warnx("reload of %s failed; the running configuration is kept", d->config_path);
	/* The diagnostics already name the file, line and column. */
	const char *text = hs_diag_text(&diag);
	if (*text)
		fputs(text, stderr);
	hs_diag_free(&diag);
}

int main(int argc, char **argv)
{
	const char *path = HS_DEFAULT_CONFIG_PATH;
	bool test_only = false, verbose = false;
	int opt;

	while ((opt = getopt(argc, argv, "c:tvh")) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 't':
			test_only = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (test_only)
		return check_config(path);

	struct hs_config config;
	struct hs_diag diag;
	if (hs_config_load(path, &config, &diag) < 0) {
		fputs(hs_diag_text(&diag), stderr);
		hs_diag_free(&diag);
		return 1;
	}
	fputs(hs_diag_text(&diag), stderr);
	hs_diag_free(&diag);
	log_init(verbose ? HS_LOG_DEBUG : config.log_level);

	/* Signals go to the main thread's signalfd; workers inherit the mask. */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		fatal("signalfd");

	struct hs_daemon daemon;
	char err[512];
	if (hs_daemon_start(&daemon, path, &config, err, sizeof(err)) < 0)
		fatalx("%s", err);
	log_notice("started: queue %u-%u, %u flows per queue, control socket %s", config.queue_first,
		   config.queue_last, config.max_flows, config.control_socket);

	int epfd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = sfd };
	if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev) < 0)
		fatal("epoll");
	ev.data.fd = daemon.control_fd;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, daemon.control_fd, &ev) < 0)
		fatal("epoll");

	bool running = true;
	while (running) {
		struct epoll_event evs[4];
		int n = epoll_wait(epfd, evs, 4, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fatal("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.fd == daemon.control_fd) {
				hs_control_serve(daemon.control_fd, &daemon);
				continue;
			}
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				if (si.ssi_signo == SIGHUP) {
					log_info("SIGHUP: reloading %s", path);
					reload(&daemon);
				} else {
					log_notice("signal %u: stopping", si.ssi_signo);
					running = false;
				}
			}
		}
	}
	hs_daemon_stop(&daemon);
	close(epfd);
	close(sfd);
	log_notice("stopped");
	return 0;
}
