/*
 * bench_snapshot: how long saving and loading a snapshot of 1M flows take,
 * and how large the file is.  A table of established connections (each
 * with a handshake and data both ways) is saved as the daemon saves it:
 * encoded a chunk of 4096 records at a time (the time a worker's lock is
 * held) into a staging buffer, written out after each chunk, fsynced,
 * renamed over the old file and the directory fsynced.  It is loaded as
 * the daemon loads it: read whole, checked whole (every block, record and
 * tuple), then restored into a fresh table.  The same-run reference is the
 * floor under any format: the same records dumped raw as they lie in
 * memory (128-byte structs, no encoding, no checks), written and fsynced,
 * then read back.  Medians of RUNS runs.
 *
 *   bench_snapshot [FLOWS] [DIR]      (default 1000000 flows, a directory under /var/tmp)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hs_snapshot.h"
#include "hs_table.h"
#include "bench_flows.h"
#include "bench_util.h"

#define RUNS 5
#define CHUNK 4096u

/* Handshake, a request and a response: history ShADad, windows and counters set. */
static void fill(struct hs_table *t, uint32_t flows)
{
	struct hs_packet p;
	struct hs_track_result r;

	for (uint32_t i = 0; i < flows; i++) {
		bench_flow_handshake(hs_table_track, t, i, 1000);
		bench_flow_packet(&p, i, true, HS_TCP_ACK | HS_TCP_PSH, CLIENT_ISN + 1, SERVER_ISN + 1, 100);
		hs_table_track(t, &p, 1010, &r);
		bench_flow_packet(&p, i, false, HS_TCP_ACK | HS_TCP_PSH, SERVER_ISN + 1, CLIENT_ISN + 101, 1000);
		hs_table_track(t, &p, 1020, &r);
	}
}

/* ---- saving, as daemon/state_store.c does ---- */

struct stage {
	int fd;
	uint8_t *buf;
	size_t len, cap;
};

static bool stage_bytes(void *ctx, const void *bytes, size_t len)
{
	struct stage *s = ctx;

	if (s->len + len > s->cap) {
		s->cap = (s->len + len) * 2;
		s->buf = realloc(s->buf, s->cap);
		if (!s->buf)
			return false;
	}
	memcpy(s->buf + s->len, bytes, len);
	s->len += len;
	return true;
}

static void write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n <= 0) {
			perror("write");
			exit(1);
		}
		p += n;
		len -= (size_t)n;
	}
}

static void flush(struct stage *s)
{
	write_all(s->fd, s->buf, s->len);
	s->len = 0;
}

static void sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

struct save_result {
	double total_ms, locked_ms, max_chunk_us;
	size_t bytes;
};

static struct save_result save(const struct hs_table *t, const char *dir, const char *tmp, const char *path)
{
	struct save_result r = { 0 };
	struct stage s = { .fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600) };
	struct hs_snap_writer w;
	struct hs_snap_header h = { .saved_wall_ms = 1, .sections = 1 };
	struct hs_snap_section sec = { .queue = 0, .next_id = hs_table_next_id(t), .id_step = 1 };
	uint64_t t0 = now_ns();

	if (s.fd < 0 || !hs_snap_writer_init(&w, stage_bytes, &s)) {
		perror(tmp);
		exit(1);
	}
	hs_snap_write_header(&w, &h);
	hs_snap_write_section(&w, &sec);
	uint32_t span = hs_table_span(t);
	for (uint32_t pos = 0; pos < span;) {
		uint64_t c0 = now_ns();
		/* The part a worker waits for: one chunk encoded under its lock. */
		for (uint32_t end = span - pos > CHUNK ? pos + CHUNK : span; pos < end; pos++) {
			const struct hs_flow *f = hs_table_flow_at(t, pos);
			if (f)
				hs_snap_write_flow(&w, t, f, 2000);
		}
		double us = (double)(now_ns() - c0) / 1e3;
		r.locked_ms += us / 1e3;
		if (us > r.max_chunk_us)
			r.max_chunk_us = us;
		flush(&s);
	}
	if (!hs_snap_writer_finish(&w)) {
		fprintf(stderr, "writer failed\n");
		exit(1);
	}
	flush(&s);
	hs_snap_writer_free(&w);
	r.bytes = (size_t)lseek(s.fd, 0, SEEK_CUR);
	fsync(s.fd);
	close(s.fd);
	rename(tmp, path);
	sync_dir(dir);
	r.total_ms = (double)(now_ns() - t0) / 1e6;
	free(s.buf);
	return r;
}

/* ---- loading, as daemon/state_store.c does ---- */

static uint8_t *read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	off_t size = fd >= 0 ? lseek(fd, 0, SEEK_END) : -1;
	uint8_t *data = size > 0 ? malloc((size_t)size) : NULL;
	size_t got = 0;

	if (!data) {
		perror(path);
		exit(1);
	}
	lseek(fd, 0, SEEK_SET);
	while (got < (size_t)size) {
		ssize_t n = read(fd, data + got, (size_t)size - got);
		if (n <= 0) {
			perror("read");
			exit(1);
		}
		got += (size_t)n;
	}
	close(fd);
	*len = got;
	return data;
}

struct load_ctx {
	struct hs_table *table;
	uint64_t restored;
};

static void load_flow(void *ctx, const struct hs_snap_section *s, const struct hs_flow *image,
		      const struct hs_flow_ages *ages)
{
	struct load_ctx *c = ctx;
	(void)s;

	c->restored += hs_table_restore_flow(c->table, image, ages, 5000, true) == HS_RESTORE_OK;
}

struct load_result {
	double total_ms, read_ms, check_ms;
	uint64_t flows;
};

static struct load_result load(const char *path, uint32_t capacity)
{
	static const struct hs_snap_visitor visitor = { NULL, load_flow, NULL };
	struct load_result r = { 0 };
	struct hs_table *t = bench_table(capacity);
	struct load_ctx c = { t, 0 };
	struct hs_snap_header h;
	struct hs_snap_totals totals;
	char why[256];
	size_t len;

	if (!t) {
		perror("table");
		exit(1);
	}
	uint64_t t0 = now_ns();
	uint8_t *data = read_file(path, &len);
	r.read_ms = (double)(now_ns() - t0) / 1e6;
	/* As the state store: the whole check first (the sections seen), then the flows delivered. */
	uint64_t c0 = now_ns();
	if (hs_snap_read(data, len, &h, &totals, NULL, NULL, why, sizeof(why)) < 0) {
		fprintf(stderr, "refused: %s\n", why);
		exit(1);
	}
	r.check_ms = (double)(now_ns() - c0) / 1e6;
	if (hs_snap_deliver(data, len, &visitor, &c) < 0) {
		fprintf(stderr, "not delivered\n");
		exit(1);
	}
	r.total_ms = (double)(now_ns() - t0) / 1e6;
	r.flows = c.restored;
	free(data);
	hs_table_destroy(t);
	return r;
}

/* ---- the reference: the records dumped and read back raw ---- */

static double raw_write(const struct hs_table *t, const char *path, size_t *bytes)
{
	uint32_t span = hs_table_span(t);
	struct hs_flow *buf = malloc((size_t)span * sizeof(*buf));
	uint64_t t0 = now_ns();
	size_t n = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	for (uint32_t pos = 0; pos < span; pos++) {
		const struct hs_flow *f = hs_table_flow_at(t, pos);
		if (f)
			buf[n++] = *f;
	}
	write_all(fd, (const uint8_t *)buf, n * sizeof(*buf));
	fsync(fd);
	close(fd);
	double ms = (double)(now_ns() - t0) / 1e6;
	*bytes = n * sizeof(*buf);
	free(buf);
	return ms;
}

static double raw_read(const char *path)
{
	uint64_t t0 = now_ns();
	size_t len;
	uint8_t *data = read_file(path, &len);
	uint8_t sink = 0;

	/* Every page read; the empty asm keeps the reads, which nothing else uses. */
	for (size_t i = 0; i < len; i += 4096)
		sink ^= data[i];
	__asm__ volatile("" : : "r"(sink));
	free(data);
	return (double)(now_ns() - t0) / 1e6;
}

int main(int argc, char **argv)
{
	uint32_t flows = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 1000000u;
	char dir[256], tmp[300], path[300], raw[300];

	if (argc > 2)
		snprintf(dir, sizeof(dir), "%s", argv[2]);
	else if (!mkdtemp(strcpy(dir, "/var/tmp/bench_snapshot.XXXXXX"))) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(tmp, sizeof(tmp), "%s/handshaked.snap.tmp", dir);
	snprintf(path, sizeof(path), "%s/handshaked.snap", dir);
	snprintf(raw, sizeof(raw), "%s/raw.bin", dir);
	srand(1);
	uint32_t capacity = flows + flows / 8 + 16;
	struct hs_table *t = bench_table(capacity);
	if (!t) {
		perror("table");
		return 1;
	}
	fill(t, flows);
	if (hs_table_stats(t)->live != flows) {
		fprintf(stderr, "only %u of %u flows live\n", hs_table_stats(t)->live, flows);
		return 1;
	}

	double save_ms[RUNS], locked_ms[RUNS], chunk_us[RUNS], load_ms[RUNS], read_ms[RUNS], check_ms[RUNS], rw_ms[RUNS],
		rr_ms[RUNS];
	size_t bytes = 0, raw_bytes = 0;
	uint64_t loaded = 0;
	for (int run = 0; run < RUNS; run++) {
		struct save_result s = save(t, dir, tmp, path);
		struct load_result l = load(path, capacity);

		save_ms[run] = s.total_ms;
		locked_ms[run] = s.locked_ms;
		chunk_us[run] = s.max_chunk_us;
		bytes = s.bytes;
		load_ms[run] = l.total_ms;
		read_ms[run] = l.read_ms;
		check_ms[run] = l.check_ms;
		loaded = l.flows;
		rw_ms[run] = raw_write(t, raw, &raw_bytes);
		rr_ms[run] = raw_read(raw);
	}
	if (loaded != flows) {
		fprintf(stderr, "loaded %llu of %u flows\n", (unsigned long long)loaded, flows);
		return 1;
	}
	printf("bench_snapshot: %u established flows, medians of %d runs, files in %s\n", flows, RUNS, dir);
	printf("  snapshot file        %zu bytes, %.1f bytes per flow\n", bytes, (double)bytes / flows);
	printf("  save                 %.0f ms (encoding %.0f ms of it, under the lock a chunk of %u at a time: "
	       "longest chunk %.0f us; then write, fsync, rename)\n",
	       median(save_ms, RUNS), median(locked_ms, RUNS), CHUNK, median(chunk_us, RUNS));
	printf("  load                 %.0f ms (reading the file %.0f ms, checking all of it %.0f ms, restoring into a "
	       "table the rest)\n",
	       median(load_ms, RUNS), median(read_ms, RUNS), median(check_ms, RUNS));
	printf("  reference: raw dump  %zu bytes (%zu-byte records as in memory), write + fsync %.0f ms, read %.0f ms\n",
	       raw_bytes, sizeof(struct hs_flow), median(rw_ms, RUNS), median(rr_ms, RUNS));
	printf("  ratios               save %.1fx the raw write, load %.1fx the raw read, file %.2fx the raw dump\n",
	       median(save_ms, RUNS) / median(rw_ms, RUNS), median(load_ms, RUNS) / median(rr_ms, RUNS),
	       (double)bytes / (double)raw_bytes);
	unlink(path);
	unlink(raw);
	if (argc <= 2)
		rmdir(dir);
	hs_table_destroy(t);
	return 0;
}
