/*
 * drop_pcap: the dropped-packet capture (hs_drop_pcap.h).
 *
 * Each ring is a single-producer, single-consumer byte ring: the worker
 * advances head, the writer advances tail, and each publishes its position
 * with a release store that the other reads with an acquire load, so no
 * lock is shared with the packet path.  A record is a fixed header and the
 * packet bytes, padded to 8 bytes; one that would not fit before the end of
 * the buffer leaves a skip mark there and starts again at the beginning.
 *
 * The writer wakes every WRITE_INTERVAL_MS (or when told to stop), drains
 * every ring into a stdio buffer and flushes it: one write() for many
 * packets, and none in the workers.
 */
#include "hs_drop_pcap.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "hs_log.h"

#define RING_BYTES (4u << 20)       /* per worker: some 29000 packets of 128 bytes */
#define WRITE_INTERVAL_MS 50u
#define SKIP_MARK 0xffffffffu
#define LINKTYPE_RAW 101u           /* the queue hands over IP packets, no link layer */
#define PCAP_FILE_HEADER 24u
#define PCAP_RECORD_HEADER 16u

struct ring_record {
	uint32_t len;               /* the whole record, header included, a multiple of 8; SKIP_MARK: to the end */
	uint32_t caplen;
	uint32_t wire_len;
	uint32_t pad;
	uint64_t ts_us;
};

struct hs_drop_ring {
	_Alignas(64) _Atomic uint64_t head;    /* bytes put, by the worker */
	_Alignas(64) _Atomic uint64_t tail;    /* bytes taken, by the writer */
	_Atomic uint64_t lost;
	uint32_t snaplen;
	uint8_t *buf;
};

struct hs_drop_pcap {
	char path[4096], old_path[4096 + 2];
	uint64_t max_bytes;
	uint32_t snaplen;
	FILE *file;
	uint64_t file_bytes;
	uint32_t nrings;
	struct hs_drop_ring *rings;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
	/* Written by the writer thread only; read by stats under lock. */
	uint64_t written, write_errors, rotations;
	bool complained;            /* a write error was logged; log again only after a success */
};

static uint32_t record_len(uint32_t caplen)
{
	return (uint32_t)((sizeof(struct ring_record) + caplen + 7u) & ~7u);
}

void hs_drop_ring_put(struct hs_drop_ring *r, const uint8_t *data, uint32_t caplen, uint32_t wire_len)
{
	if (caplen > r->snaplen)
		caplen = r->snaplen;
	uint32_t need = record_len(caplen);
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	uint32_t off = (uint32_t)(head & (RING_BYTES - 1)), room_to_end = RING_BYTES - off;
	uint64_t total = room_to_end < need ? (uint64_t)room_to_end + need : need;

	if (head + total - tail > RING_BYTES) {
		atomic_fetch_add_explicit(&r->lost, 1, memory_order_relaxed);
		return;
	}
	if (room_to_end < need) {
		struct ring_record skip = { .len = SKIP_MARK };
		memcpy(r->buf + off, &skip, sizeof(skip.len));
		off = 0;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct ring_record rec = { .len = need, .caplen = caplen, .wire_len = wire_len,
				   .ts_us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u };
	memcpy(r->buf + off, &rec, sizeof(rec));
	memcpy(r->buf + off + sizeof(rec), data, caplen);
	atomic_store_explicit(&r->head, head + total, memory_order_release);
}

/* ---- the file ---- */

static int write_file_header(struct hs_drop_pcap *dp)
{
	uint32_t hdr[6] = { 0xa1b2c3d4u, 2u | (4u << 16), 0, 0, dp->snaplen, LINKTYPE_RAW };

	if (fwrite(hdr, sizeof(hdr), 1, dp->file) != 1)
		return -1;
	dp->file_bytes = PCAP_FILE_HEADER;
	return 0;
}

/* Moves the current file (if any) to FILE.1 and starts a new one. */
static int start_file(struct hs_drop_pcap *dp, char *err, size_t errlen)
{
	struct stat st;

	if (dp->file) {
		fclose(dp->file);
		dp->file = NULL;
	}
	if (stat(dp->path, &st) == 0 && st.st_size > 0 && rename(dp->path, dp->old_path) < 0) {
		snprintf(err, errlen, "log.pcap: cannot move %s to %s: %s", dp->path, dp->old_path, strerror(errno));
		return -1;
	}
	dp->file = fopen(dp->path, "wbe");
	if (!dp->file || write_file_header(dp) < 0) {
		snprintf(err, errlen, "log.pcap: %s: %s", dp->path, strerror(errno));
		return -1;
	}
	return 0;
}

static void write_record(struct hs_drop_pcap *dp, const struct ring_record *rec, const uint8_t *data)
{
	uint32_t hdr[4] = { (uint32_t)(rec->ts_us / 1000000u), (uint32_t)(rec->ts_us % 1000000u), rec->caplen,
			    rec->wire_len > rec->caplen ? rec->wire_len : rec->caplen };
	uint64_t size = PCAP_RECORD_HEADER + rec->caplen;
	char err[512];

	if (dp->file_bytes + size > dp->max_bytes && dp->file_bytes > PCAP_FILE_HEADER) {
		if (start_file(dp, err, sizeof(err)) < 0) {
			if (!dp->complained)
				log_warnx("%s", err);
			dp->complained = true;
		} else {
			dp->rotations++;
		}
	}
	if (!dp->file || fwrite(hdr, sizeof(hdr), 1, dp->file) != 1 ||
	    fwrite(data, rec->caplen, 1, dp->file) != 1) {
		dp->write_errors++;
		return;
	}
	dp->file_bytes += size;
	dp->written++;
}

/* Moves everything a ring holds to the file. */
static void drain(struct hs_drop_pcap *dp, struct hs_drop_ring *r)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);

	while (tail < head) {
		uint32_t off = (uint32_t)(tail & (RING_BYTES - 1));
		struct ring_record rec;
		memcpy(&rec.len, r->buf + off, sizeof(rec.len));
		if (rec.len == SKIP_MARK) {
			tail += RING_BYTES - off;
			continue;
		}
		memcpy(&rec, r->buf + off, sizeof(rec));
		write_record(dp, &rec, r->buf + off + sizeof(rec));
		tail += rec.len;
	}
	atomic_store_explicit(&r->tail, tail, memory_order_release);
}

static void drain_all(struct hs_drop_pcap *dp)
{
	uint64_t errors = dp->write_errors;

	for (uint32_t i = 0; i < dp->nrings; i++)
		drain(dp, &dp->rings[i]);
	if (dp->file && fflush(dp->file) != 0)
		dp->write_errors++;
	if (dp->write_errors != errors && !dp->complained) {
		log_warnx("log.pcap: writing %s failed (%s); dropped packets are being lost", dp->path,
			  strerror(errno));
		dp->complained = true;
	} else if (dp->write_errors == errors && dp->complained) {
		log_notice("log.pcap: writing %s again", dp->path);
		dp->complained = false;
	}
}

static void *writer_main(void *arg)
{
	struct hs_drop_pcap *dp = arg;

	pthread_mutex_lock(&dp->lock);
	while (!dp->stop) {
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += (long)WRITE_INTERVAL_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&dp->wake, &dp->lock, &until);
		drain_all(dp);
	}
	pthread_mutex_unlock(&dp->lock);
	return NULL;
}

struct hs_drop_pcap *hs_drop_pcap_open(const char *path, uint32_t max_mb, uint32_t snaplen, uint32_t nrings,
				       char *err, size_t errlen)
{
	struct hs_drop_pcap *dp = calloc(1, sizeof(*dp));

	if (!dp || strlen(path) >= sizeof(dp->path)) {
		snprintf(err, errlen, "log.pcap: %s", dp ? "path too long" : strerror(errno));
		free(dp);
		return NULL;
	}
	snprintf(dp->path, sizeof(dp->path), "%s", path);
	snprintf(dp->old_path, sizeof(dp->old_path), "%s.1", path);
	dp->max_bytes = (uint64_t)max_mb << 20;
	dp->snaplen = snaplen;
	dp->nrings = nrings;
	pthread_mutex_init(&dp->lock, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&dp->wake, &attr);
	pthread_condattr_destroy(&attr);
	dp->rings = calloc(nrings, sizeof(*dp->rings));
	for (uint32_t i = 0; dp->rings && i < nrings; i++) {
		dp->rings[i].snaplen = snaplen;
		dp->rings[i].buf = malloc(RING_BYTES);
		if (!dp->rings[i].buf) {
			snprintf(err, errlen, "log.pcap: out of memory");
			hs_drop_pcap_close(dp);
			return NULL;
		}
	}
	if (!dp->rings) {
		snprintf(err, errlen, "log.pcap: out of memory");
		hs_drop_pcap_close(dp);
		return NULL;
	}
	if (start_file(dp, err, errlen) < 0) {
		hs_drop_pcap_close(dp);
		return NULL;
	}
	int rc = pthread_create(&dp->thread, NULL, writer_main, dp);
	if (rc != 0) {
		snprintf(err, errlen, "log.pcap: starting the writer: %s", strerror(rc));
		hs_drop_pcap_close(dp);
		return NULL;
	}
	dp->started = true;
	return dp;
}

struct hs_drop_ring *hs_drop_pcap_ring(struct hs_drop_pcap *dp, uint32_t i)
{
	return dp && i < dp->nrings ? &dp->rings[i] : NULL;
}

void hs_drop_pcap_stats(struct hs_drop_pcap *dp, struct hs_drop_pcap_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!dp)
		return;
	pthread_mutex_lock(&dp->lock);
	out->written = dp->written;
	out->write_errors = dp->write_errors;
	out->rotations = dp->rotations;
	pthread_mutex_unlock(&dp->lock);
	for (uint32_t i = 0; i < dp->nrings; i++)
		out->lost += atomic_load_explicit(&dp->rings[i].lost, memory_order_relaxed);
}

void hs_drop_pcap_close(struct hs_drop_pcap *dp)
{
	if (!dp)
		return;
	if (dp->started) {
		pthread_mutex_lock(&dp->lock);
		dp->stop = true;
		pthread_cond_signal(&dp->wake);
		pthread_mutex_unlock(&dp->lock);
		pthread_join(dp->thread, NULL);
	}
	if (dp->file) {
		drain_all(dp);
		fclose(dp->file);
	}
	for (uint32_t i = 0; dp->rings && i < dp->nrings; i++)
		free(dp->rings[i].buf);
	free(dp->rings);
	pthread_cond_destroy(&dp->wake);
	pthread_mutex_destroy(&dp->lock);
	free(dp);
}
