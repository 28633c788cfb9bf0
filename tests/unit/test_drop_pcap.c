/*
 * test_drop_pcap: the dropped-packet capture.  Packets put in the workers'
 * rings come out of the file, read back through libpcap (hs_capture_read),
 * with their bytes, lengths, cut to the snap length, and in each ring's
 * order; the file rotates to FILE.1 at its size limit and keeps one old
 * file; an existing file is moved aside at open; a ring that fills faster
 * than the writer empties it counts what it could not take, and nothing
 * else goes missing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "hs_capture_read.h"
#include "hs_drop_pcap.h"

struct dir {
	char path[64];
	char file[128], old[140];
};

static void dir_make(struct dir *d)
{
	snprintf(d->path, sizeof(d->path), "/tmp/hs-drop-pcap.XXXXXX");
	assert_non_null(mkdtemp(d->path));
	snprintf(d->file, sizeof(d->file), "%s/dropped.pcap", d->path);
	snprintf(d->old, sizeof(d->old), "%s.1", d->file);
}

static void dir_remove(struct dir *d)
{
	unlink(d->file);
	unlink(d->old);
	rmdir(d->path);
}

/* A packet whose bytes tell its ring and number: byte i is (tag + i) & 0xff. */
static void fill(uint8_t *buf, size_t len, uint32_t tag)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(tag + i);
}

/* The writer's counters once it has taken all of count packets (2 s at most): no fixed sleep. */
static void wait_settled(struct hs_drop_pcap *dp, uint64_t count, struct hs_drop_pcap_stats *stats)
{
	for (int i = 0; i < 200; i++) {
		hs_drop_pcap_stats(dp, stats);
		if (stats->written + stats->lost == count)
			return;
		usleep(10 * 1000);
	}
	fail_msg("the writer took %llu + %llu of %llu packets in 2 s", (unsigned long long)stats->written,
		 (unsigned long long)stats->lost, (unsigned long long)count);
}

/* Reads a capture back: the count of records, and each record's tag (its first byte) in order. */
static uint64_t read_back(const char *path, uint8_t *tags, size_t max, uint32_t *caplens, uint32_t *wirelens)
{
	char err[512];
	struct hs_capture *cap = hs_capture_open(path, err, sizeof(err));
	struct hs_capture_record rec;
	uint64_t n = 0;

	if (!cap)
		fail_msg("%s", err);
	assert_string_equal(hs_capture_link_name(cap), "RAW");
	while (hs_capture_next(cap, &rec, err, sizeof(err)) == 1) {
		assert_int_equal(rec.link, HS_LINK_IP);
		if (n < max) {
			tags[n] = rec.ip_caplen ? rec.ip[0] : 0;
			for (size_t i = 1; i < rec.ip_caplen; i++)
				assert_int_equal(rec.ip[i], (uint8_t)(rec.ip[0] + i));
			if (caplens)
				caplens[n] = (uint32_t)rec.ip_caplen;
			if (wirelens)
				wirelens[n] = (uint32_t)(rec.ip_wire_len ? rec.ip_wire_len : rec.ip_caplen);
		}
		n++;
	}
	hs_capture_close(cap);
	return n;
}

static void packets_come_out(void **state)
{
	(void)state;
	struct dir d;
	char err[512];
	uint8_t buf[300], tags[16];
	uint32_t caplens[16], wirelens[16];

	dir_make(&d);
	struct hs_drop_pcap *dp = hs_drop_pcap_open(d.file, 64, 128, 2, err, sizeof(err));
	assert_non_null(dp);
	for (uint32_t k = 0; k < 3; k++) {
		fill(buf, 60, 10 + k);
		hs_drop_ring_put(hs_drop_pcap_ring(dp, 0), buf, 60, 60);
	}
	fill(buf, sizeof(buf), 50);
	hs_drop_ring_put(hs_drop_pcap_ring(dp, 1), buf, sizeof(buf), 1500);   /* cut to 128, 1500 on the wire */
	fill(buf, 40, 51);
	hs_drop_ring_put(hs_drop_pcap_ring(dp, 1), buf, 40, 40);
	assert_null(hs_drop_pcap_ring(dp, 2));
	hs_drop_pcap_close(dp);

	uint64_t n = read_back(d.file, tags, 16, caplens, wirelens);
	assert_int_equal(n, 5);
	/* Each ring's packets in order; the rings one after the other. */
	assert_memory_equal(tags, ((uint8_t[]){ 10, 11, 12, 50, 51 }), 5);
	assert_int_equal(caplens[3], 128);
	assert_int_equal(wirelens[3], 1500);
	assert_int_equal(caplens[4], 40);
	assert_int_equal(wirelens[0], 60);
	dir_remove(&d);
}

static void old_file_moved_aside(void **state)
{
	(void)state;
	struct dir d;
	char err[512];
	struct stat st;
	uint8_t buf[64];

	dir_make(&d);
	FILE *f = fopen(d.file, "w");
	assert_non_null(f);
	fputs("the previous run's drops\n", f);
	fclose(f);
	struct hs_drop_pcap *dp = hs_drop_pcap_open(d.file, 64, 128, 1, err, sizeof(err));
	assert_non_null(dp);
	fill(buf, sizeof(buf), 7);
	hs_drop_ring_put(hs_drop_pcap_ring(dp, 0), buf, sizeof(buf), sizeof(buf));
	hs_drop_pcap_close(dp);
	assert_int_equal(stat(d.old, &st), 0);
	assert_int_equal(st.st_size, 25);
	uint8_t tag;
	assert_int_equal(read_back(d.file, &tag, 1, NULL, NULL), 1);

	/* A directory that cannot hold the file is an error at open. */
	char bad[200];
	snprintf(bad, sizeof(bad), "%s/missing/dropped.pcap", d.path);
	assert_null(hs_drop_pcap_open(bad, 64, 128, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "missing/dropped.pcap"));
	dir_remove(&d);
}

static void rotation_keeps_one_old_file(void **state)
{
	(void)state;
	struct dir d;
	char err[512];
	uint8_t buf[100];
	struct stat st;
	/* 25000 x (16 + 100) bytes: 2.9 MB in the files, two rotations at 1 MiB; 3.2 MB in the ring, which holds 4. */
	enum { count = 25000 };

	dir_make(&d);
	struct hs_drop_pcap *dp = hs_drop_pcap_open(d.file, 1, 128, 1, err, sizeof(err));
	assert_non_null(dp);
	for (uint32_t k = 0; k < count; k++) {
		fill(buf, sizeof(buf), k);
		hs_drop_ring_put(hs_drop_pcap_ring(dp, 0), buf, sizeof(buf), sizeof(buf));
	}
	struct hs_drop_pcap_stats stats;
	wait_settled(dp, count, &stats);
	hs_drop_pcap_close(dp);
	assert_int_equal(stats.lost, 0);
	assert_int_equal(stat(d.file, &st), 0);
	assert_true(st.st_size <= (1 << 20));
	assert_int_equal(stat(d.old, &st), 0);
	assert_true(st.st_size <= (1 << 20));
	assert_true(st.st_size > (1 << 20) - 200);

	static uint8_t tags[count];
	uint64_t in_old = read_back(d.old, tags, count, NULL, NULL);
	uint64_t in_new = read_back(d.file, tags + in_old, count - in_old, NULL, NULL);
	/* The newest packets are all there, the last one last. */
	assert_int_equal(tags[in_old + in_new - 1], (uint8_t)(count - 1));
	assert_true(in_old + in_new < count);
	assert_int_equal(in_old, ((1 << 20) - 24) / 116);
	assert_int_equal(stats.rotations, 2);
	dir_remove(&d);
}

static void full_ring_counts_losses(void **state)
{
	(void)state;
	struct dir d;
	char err[512];
	uint8_t buf[200];
	struct hs_drop_pcap_stats stats;
	const uint32_t count = 200000;    /* far more than a 4 MiB ring holds */

	dir_make(&d);
	struct hs_drop_pcap *dp = hs_drop_pcap_open(d.file, 1024, 200, 1, err, sizeof(err));
	assert_non_null(dp);
	fill(buf, sizeof(buf), 1);
	for (uint32_t k = 0; k < count; k++)
		hs_drop_ring_put(hs_drop_pcap_ring(dp, 0), buf, sizeof(buf), sizeof(buf));
	wait_settled(dp, count, &stats);
	assert_true(stats.lost > 0);
	assert_int_equal(stats.written + stats.lost, count);
	assert_int_equal(stats.write_errors, 0);
	hs_drop_pcap_close(dp);
	uint8_t tag;
	assert_int_equal(read_back(d.file, &tag, 1, NULL, NULL), stats.written);
	dir_remove(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(packets_come_out),
		cmocka_unit_test(old_file_moved_aside),
		cmocka_unit_test(rotation_keeps_one_old_file),
		cmocka_unit_test(full_ring_counts_losses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
