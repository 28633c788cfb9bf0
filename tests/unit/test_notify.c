/*
 * Unit tests for the systemd notification protocol (daemon/notify.c).  Each
 * test plays systemd: it binds a datagram socket (a file in a temporary
 * directory, or an abstract name written with '@'), points NOTIFY_SOCKET at
 * it, and reads back exactly the datagrams the daemon's calls send: READY=1
 * with STATUS=, RELOADING=1 with a MONOTONIC_USEC= taken on the right
 * clock, STOPPING=1 and WATCHDOG=1.  SO_PASSCRED is on, as systemd has it,
 * to check that the kernel attributes every message to our pid.  The
 * watchdog's environment parsing and the worker-heartbeat rule are tested
 * as the pure functions they are.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "hs_clock.h"
#include "hs_notify.h"

struct fake_systemd {
	int fd;
	char dir[64];
	char path[108];
};

/* Binds the receiving socket; abstract when name starts with '@'. */
static void fake_open(struct fake_systemd *f, const char *abstract_name)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	socklen_t len;

	memset(f, 0, sizeof(*f));
	f->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(f->fd >= 0);
	if (abstract_name) {
		/* Unique per process, so parallel runs of the suite do not collide. */
		snprintf(f->path, sizeof(f->path), "@%s-%ld", abstract_name, (long)getpid());
		sun.sun_path[0] = '\0';
		memcpy(sun.sun_path + 1, f->path + 1, strlen(f->path) - 1);
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(f->path));
	} else {
		snprintf(f->dir, sizeof(f->dir), "/tmp/hs-notify-test.XXXXXX");
		assert_non_null(mkdtemp(f->dir));
		snprintf(f->path, sizeof(f->path), "%s/notify", f->dir);
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", f->path);
		len = (socklen_t)sizeof(sun);
	}
	assert_int_equal(bind(f->fd, (struct sockaddr *)&sun, len), 0);
	int one = 1;
	assert_int_equal(setsockopt(f->fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), 0);
	/* A missing message must fail the test, not hang it. */
	struct timeval tv = { .tv_sec = 2 };
	setsockopt(f->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(setenv("NOTIFY_SOCKET", f->path, 1), 0);
}

static void fake_close(struct fake_systemd *f)
{
	close(f->fd);
	if (f->dir[0]) {
		unlink(f->path);
		rmdir(f->dir);
	}
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

/* Receives one datagram into buf (NUL-terminated) and checks that it came from this process. */
static void fake_recv(struct fake_systemd *f, char *buf, size_t size)
{
	char control[CMSG_SPACE(sizeof(struct ucred))];
	struct iovec iov = { .iov_base = buf, .iov_len = size - 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
			      .msg_controllen = sizeof(control) };
	ssize_t n = recvmsg(f->fd, &msg, 0);

	assert_true(n > 0);
	assert_false(msg.msg_flags & MSG_TRUNC);
	buf[n] = '\0';
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	assert_non_null(cm);
	assert_int_equal(cm->cmsg_level, SOL_SOCKET);
	assert_int_equal(cm->cmsg_type, SCM_CREDENTIALS);
	struct ucred cred;
	memcpy(&cred, CMSG_DATA(cm), sizeof(cred));
	assert_int_equal(cred.pid, getpid());
}

static void expect_message(struct fake_systemd *f, const char *expected)
{
	char buf[2048];

	fake_recv(f, buf, sizeof(buf));
	assert_string_equal(buf, expected);
}

/* Every message of a service's life, in order, through a socket file. */
static void run_lifecycle(const char *abstract_name)
{
	struct fake_systemd f;
	struct hs_notify n;
	char err[256] = "";
	char buf[2048];

	fake_open(&f, abstract_name);
	assert_int_equal(hs_notify_init(&n, err, sizeof(err)), 0);
	assert_true(hs_notify_enabled(&n));

	assert_int_equal(hs_notify_ready(&n, "tracking 0 flows"), 0);
	expect_message(&f, "READY=1\nSTATUS=tracking 0 flows");

	assert_int_equal(hs_notify_status(&n, "tracking 12 flows (3 half-open); 4567 packets"), 0);
	expect_message(&f, "STATUS=tracking 12 flows (3 half-open); 4567 packets");

	/* RELOADING=1 must carry the time of the reload on CLOCK_MONOTONIC. */
	uint64_t before = hs_now_us();
	assert_int_equal(hs_notify_reloading(&n), 0);
	uint64_t after = hs_now_us();
	fake_recv(&f, buf, sizeof(buf));
	assert_memory_equal(buf, "RELOADING=1\nMONOTONIC_USEC=", 27);
	char *end;
	unsigned long long stamp = strtoull(buf + 27, &end, 10);
	assert_true(*end == '\0' && end != buf + 27);
	assert_true(stamp >= before && stamp <= after);

	assert_int_equal(hs_notify_ready(&n, "configuration reloaded"), 0);
	expect_message(&f, "READY=1\nSTATUS=configuration reloaded");

	assert_int_equal(hs_notify_watchdog(&n), 0);
	expect_message(&f, "WATCHDOG=1");

	assert_int_equal(hs_notify_stopping(&n), 0);
	expect_message(&f, "STOPPING=1");

	hs_notify_close(&n);
	assert_false(hs_notify_enabled(&n));
	fake_close(&f);
}

static void test_lifecycle_path(void **state)
{
	(void)state;
	run_lifecycle(NULL);
}

static void test_lifecycle_abstract(void **state)
{
	(void)state;
	run_lifecycle("hs-notify-test");
}

/* A newline in a status would smuggle another assignment into the message. */
static void test_status_is_one_line(void **state)
{
	struct fake_systemd f;
	struct hs_notify n;
	char err[256];

	(void)state;
	fake_open(&f, NULL);
	assert_int_equal(hs_notify_init(&n, err, sizeof(err)), 0);
	assert_int_equal(hs_notify_status(&n, "bad\nREADY=1\rx"), 0);
	expect_message(&f, "STATUS=bad READY=1 x");
	hs_notify_close(&n);
	fake_close(&f);
}

static void test_watchdog_env(void **state)
{
	struct fake_systemd f;
	struct hs_notify n;
	char err[256], pid[32];

	(void)state;
	fake_open(&f, NULL);
	setenv("WATCHDOG_USEC", "3000000", 1);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	assert_int_equal(hs_notify_init(&n, err, sizeof(err)), 0);
	assert_int_equal(n.watchdog_usec, 3000000);
	hs_notify_close(&n);

	/* Meant for another process (a parent that exec'd us without clearing it). */
	setenv("WATCHDOG_PID", "1", 1);
	assert_int_equal(hs_notify_init(&n, err, sizeof(err)), 0);
	assert_int_equal(n.watchdog_usec, 0);
	hs_notify_close(&n);
	fake_close(&f);

	assert_int_equal(hs_notify_parse_watchdog("1000000", NULL, 42), 1000000);
	assert_int_equal(hs_notify_parse_watchdog("1000000", "42", 42), 1000000);
	assert_int_equal(hs_notify_parse_watchdog("1000000", "43", 42), 0);
	assert_int_equal(hs_notify_parse_watchdog("0", NULL, 42), 0);
	assert_int_equal(hs_notify_parse_watchdog("-5", NULL, 42), 0);
	assert_int_equal(hs_notify_parse_watchdog("12x", NULL, 42), 0);
	assert_int_equal(hs_notify_parse_watchdog("", NULL, 42), 0);
	assert_int_equal(hs_notify_parse_watchdog(NULL, NULL, 42), 0);
	assert_int_equal(hs_notify_parse_watchdog("99999999999999999999999", NULL, 42), 0);
}

/* Outside systemd every call succeeds and does nothing. */
static void test_no_socket(void **state)
{
	struct hs_notify n;
	char err[256];

	(void)state;
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(hs_notify_init(&n, err, sizeof(err)), 0);
	assert_false(hs_notify_enabled(&n));
	assert_int_equal(hs_notify_ready(&n, "x"), 0);
	assert_int_equal(hs_notify_reloading(&n), 0);
	assert_int_equal(hs_notify_watchdog(&n), 0);
	assert_int_equal(hs_notify_stopping(&n), 0);
	hs_notify_close(&n);
}

static void test_bad_socket_names(void **state)
{
	struct hs_notify n;
	char err[256], long_path[200];

	(void)state;
	setenv("NOTIFY_SOCKET", "relative/path", 1);
	assert_int_equal(hs_notify_init(&n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "neither an absolute path nor an abstract name"));
	assert_false(hs_notify_enabled(&n));
	assert_int_equal(hs_notify_ready(&n, "x"), 0);

	memset(long_path, 'a', sizeof(long_path) - 1);
	long_path[0] = '/';
	long_path[sizeof(long_path) - 1] = '\0';
	setenv("NOTIFY_SOCKET", long_path, 1);
	assert_int_equal(hs_notify_init(&n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too long"));
	unsetenv("NOTIFY_SOCKET");
}

/* Nobody listening on the path: sending fails, and says so. */
static void test_send_fails_without_listener(void **state)
{
	struct hs_notify n;
	char err[256];

	(void)state;
	setenv("NOTIFY_SOCKET", "/nonexistent-dir/notify", 1);
	assert_int_equal(hs_notify_init(&n, err, sizeof(err)), 0);
	assert_int_equal(hs_notify_ready(&n, NULL), -1);
	hs_notify_close(&n);
	unsetenv("NOTIFY_SOCKET");
}

static void test_heartbeats(void **state)
{
	uint64_t seen[3] = { 10, 20, 30 };
	uint64_t now[3] = { 11, 25, 31 };
	size_t stuck = 99;

	(void)state;
	/* Every worker moved: ping, and remember the new values. */
	assert_true(hs_notify_heartbeats_advanced(seen, now, 3, &stuck));
	assert_int_equal(seen[0], 11);
	assert_int_equal(seen[1], 25);
	assert_int_equal(seen[2], 31);

	/* Worker 1 stood still: no ping, it is named, and the last ping's values stay. */
	now[0] = 12;
	now[2] = 40;
	assert_false(hs_notify_heartbeats_advanced(seen, now, 3, &stuck));
	assert_int_equal(stuck, 1);
	assert_int_equal(seen[0], 11);
	assert_int_equal(seen[2], 31);

	/* It recovers: judged against the last ping, all moved again. */
	now[1] = 26;
	assert_true(hs_notify_heartbeats_advanced(seen, now, 3, &stuck));
	assert_int_equal(seen[1], 26);

	/* No workers: nothing can be stuck. */
	assert_true(hs_notify_heartbeats_advanced(NULL, NULL, 0, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lifecycle_path),
		cmocka_unit_test(test_lifecycle_abstract),
		cmocka_unit_test(test_status_is_one_line),
		cmocka_unit_test(test_watchdog_env),
		cmocka_unit_test(test_no_socket),
		cmocka_unit_test(test_bad_socket_names),
		cmocka_unit_test(test_send_fails_without_listener),
		cmocka_unit_test(test_heartbeats),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
