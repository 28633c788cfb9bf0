/*
 * state_store: the snapshot file in state.dir (see hs_state_store.h).
 *
 * Saving streams the snapshot to STATE.tmp: each worker's table is read a
 * chunk at a time under its lock into a staging buffer, which is written
 * out once the lock is released, so a worker never waits for the disk.
 * The file is fsynced, renamed over the old snapshot and the directory
 * fsynced: a crash at any moment leaves either the old snapshot or the
 * new one, never a mixture.
 *
 * Loading reads the file and lets the core check all of it before anything
 * is put in a table.  A damaged file (or one of another version, or from
 * another machine) is renamed to STATE.bad for a post-mortem, so that the
 * next start does not trip over it again, and the daemon starts empty.
 *
 * Which worker gets a flow: with the same queues, the worker of its
 * section.  With another set, none can be told: the kernel balances a
 * queue range by a hash under a seed it keeps to itself.  Those flows go
 * to the restore pool and each is claimed by the worker that first misses
 * it in its table; the pool's leftovers are written as a section of no
 * queue (id_step 0), so that a restart before they are claimed keeps them.
 */
#include "hs_state_store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hs_log.h"
#include "hs_snapshot.h"

#define STAGE_FLUSH (1u << 20)      /* write the staged bytes out past this much */

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void hs_state_store_configure(struct hs_state_store *s, const struct hs_config *c, uint64_t now_ms)
{
	bool was_on = s->dir[0] && s->interval_ms;

	snprintf(s->dir, sizeof(s->dir), "%s", c->state_dir);
	s->max_age_ms = c->state_max_age_ms;
	if (!s->dir[0] || !c->state_interval_ms)
		s->next_save_ms = UINT64_MAX;
	else if (!was_on || c->state_interval_ms != s->interval_ms)
		s->next_save_ms = now_ms + c->state_interval_ms;
	s->interval_ms = c->state_interval_ms;
}

static void path_of(char *buf, size_t size, const struct hs_state_store *s, const char *suffix)
{
	snprintf(buf, size, "%s/%s%s", s->dir, HS_STATE_FILE, suffix);
}

/* 32 hex digits (with or without dashes, as a UUID) into 16 bytes; zeros if the file cannot be read. */
static void read_id(const char *path, uint8_t out[16])
{
	char text[64] = "";
	FILE *f = fopen(path, "re");
	size_t n = 0;

	memset(out, 0, 16);
	if (!f)
		return;
	if (!fgets(text, sizeof(text), f))
		text[0] = '\0';
	fclose(f);
	for (const char *p = text; *p && n < 32; p++) {
		int v = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : -1;
		if (v < 0)
			continue;
		out[n / 2] = (uint8_t)(out[n / 2] | (n % 2 ? v : v << 4));
		n++;
	}
}

static void this_host(struct hs_snap_header *h)
{
	read_id("/etc/machine-id", h->machine);
	read_id("/proc/sys/kernel/random/boot_id", h->boot);
}

/* ---- saving ---- */

struct save_file {
	int fd;
	uint8_t *stage;
	size_t len, cap;
	uint64_t bytes;
	int err;                    /* the first errno; 0 = fine */
};

static bool stage_bytes(void *ctx, const void *bytes, size_t len)
{
	struct save_file *f = ctx;

	if (f->len + len > f->cap) {
		size_t cap = f->cap ? f->cap : STAGE_FLUSH;
		while (cap < f->len + len)
			cap *= 2;
		uint8_t *p = realloc(f->stage, cap);
		if (!p) {
			f->err = ENOMEM;
			return false;
		}
		f->stage = p;
		f->cap = cap;
	}
	memcpy(f->stage + f->len, bytes, len);
	f->len += len;
	return true;
}

/* Writes what was staged (outside any worker's lock). */
static void flush_stage(struct save_file *f)
{
	size_t off = 0;

	while (off < f->len && !f->err) {
		ssize_t n = write(f->fd, f->stage + off, f->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			f->err = n < 0 ? errno : EIO;
		else
			off += (size_t)n;
	}
	f->bytes += off;
	f->len = 0;
}

static void save_pooled(void *ctx, const struct hs_flow *image, const struct hs_flow_ages *ages)
{
	hs_snap_write_flow_aged(ctx, image, ages);
}

/*
 * The flows still waiting in the pool, as a section of no queue (id_step
 * 0).  Written before the workers' tables: a flow claimed meanwhile is
 * then in both sections rather than in neither, and the next load keeps
 * one of the two.
 */
static void save_pool(struct save_file *f, struct hs_snap_writer *w, struct hs_restore_pool *pool)
{
	struct hs_snap_section sec = { .queue = UINT16_MAX, .id_step = 0 };
	uint32_t cursor = 0;

	hs_snap_write_section(w, &sec);
	while (!f->err && hs_restore_pool_walk(pool, &cursor, 4096, hs_now_ms(), save_pooled, w))
		flush_stage(f);
	flush_stage(f);
}

static void save_workers(struct save_file *f, struct hs_snap_writer *w, struct hs_worker *const *workers,
			 uint32_t n)
{
	for (uint32_t i = 0; i < n && !f->err; i++) {
		struct hs_snap_section sec;
		uint32_t cursor = 0;

		hs_worker_snapshot_section(workers[i], &sec);
		hs_snap_write_section(w, &sec);
		while (!f->err && hs_worker_snapshot_flows(workers[i], w, &cursor))
			flush_stage(f);
		cursor = 0;
		while (!f->err && hs_worker_snapshot_memory(workers[i], w, &cursor))
			flush_stage(f);
		flush_stage(f);
	}
}

/* fsync of the directory, so that the rename itself is on disk. */
static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

int hs_state_save(struct hs_state_store *s, struct hs_worker *const *workers, uint32_t nworkers, char *err,
		  size_t errlen)
{
	char tmp[HS_PATH_MAX + 32], final[HS_PATH_MAX + 32];
	struct save_file f = { .fd = -1 };
	struct hs_snap_writer w;
	struct hs_snap_header h = { .saved_wall_ms = wall_ms(), .sections = nworkers };
	uint64_t start = hs_now_ms();

	if (!s->dir[0]) {
		snprintf(err, errlen, "state.dir is off");
		return -1;
	}
	path_of(tmp, sizeof(tmp), s, ".tmp");
	path_of(final, sizeof(final), s, "");
	this_host(&h);
	f.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (f.fd < 0 || !hs_snap_writer_init(&w, stage_bytes, &f)) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(f.fd < 0 ? errno : ENOMEM));
		if (f.fd >= 0)
			close(f.fd);
		s->stats.save_failures++;
		log_warnx("state: cannot save a snapshot: %s", err);
		return -1;
	}
	bool pooled = s->pool_on && atomic_load(&s->pool.waiting) > 0;
	h.sections += pooled;
	hs_snap_write_header(&w, &h);
	if (pooled)
		save_pool(&f, &w, &s->pool);
	save_workers(&f, &w, workers, nworkers);
	if (!f.err && hs_snap_writer_finish(&w))
		flush_stage(&f);
	else if (!f.err)
		f.err = EIO;
	uint64_t flows = w.flows;
	hs_snap_writer_free(&w);
	free(f.stage);
	if (!f.err && fsync(f.fd) < 0)
		f.err = errno;
	if (close(f.fd) < 0 && !f.err)
		f.err = errno;
	if (!f.err && rename(tmp, final) < 0)
		f.err = errno;
	if (f.err) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(f.err));
		unlink(tmp);
		s->stats.save_failures++;
		log_warnx("state: cannot save a snapshot: %s", err);
		return -1;
	}
	if (sync_dir(s->dir) < 0)
		log_warn("state: fsync of %s", s->dir);
	s->stats.saves++;
	s->stats.last_save_wall_ms = h.saved_wall_ms;
	s->stats.last_save_flows = flows;
	s->stats.last_save_bytes = f.bytes;
	s->stats.last_save_ms = hs_now_ms() - start;
	log_info("state: saved %" PRIu64 " flows to %s (%" PRIu64 " bytes, %" PRIu64 " ms)", flows, final, f.bytes,
		 s->stats.last_save_ms);
	return 0;
}

/* ---- loading ---- */

struct load_ctx {
	struct hs_worker *const *workers;
	uint32_t nworkers;
	bool same_queues;           /* the snapshot's queues are ours: each section to its worker */
	struct hs_restore_pool *pool;   /* where the other flows wait; NULL = none */
	bool same_boot;
	uint32_t gap_ticks;
	uint64_t gap_ms;
	uint64_t now;
	struct hs_worker *target;   /* the worker of the current section, NULL: the pool's */
	bool buckets_ok;            /* the rate policies are the ones the buckets were filled under */
	uint32_t id_floor;          /* above every id of the snapshot: where new ids start in the pool's case */
	uint64_t loaded, pooled, skipped, gone_local;
};

static struct hs_worker *worker_for(const struct load_ctx *c, uint16_t queue)
{
	for (uint32_t i = 0; i < c->nworkers; i++)
		if (hs_worker_queue(c->workers[i]) == queue)
			return c->workers[i];
	return NULL;
}

static void load_section(void *ctx, const struct hs_snap_section *s)
{
	struct load_ctx *c = ctx;

	if (s->next_id > c->id_floor)
		c->id_floor = s->next_id;
	c->target = c->same_queues && s->id_step != 0 ? worker_for(c, s->queue) : NULL;
	if (!c->target)
		return;
	hs_worker_restore_begin(c->target, s, true);
	c->buckets_ok = s->rates_fingerprint == hs_worker_rates_fingerprint(c->target);
}

static uint32_t add_ticks(uint32_t a, uint32_t b)
{
	return a > UINT32_MAX - b ? UINT32_MAX : a + b;
}

static void load_flow(void *ctx, const struct hs_snap_section *s, const struct hs_flow *image,
		      const struct hs_flow_ages *saved)
{
	struct load_ctx *c = ctx;
	struct hs_flow_ages ages = { add_ticks(saved->age_ticks, c->gap_ticks),
				     add_ticks(saved->idle_ticks, c->gap_ticks),
				     add_ticks(saved->state_ticks, c->gap_ticks) };
	(void)s;

	if (image->id >= c->id_floor)
		c->id_floor = image->id == UINT32_MAX ? UINT32_MAX : image->id + 1;
	/* A local endpoint's socket did not survive a reboot of this host. */
	if (!c->same_boot && hs_flow_local_sides(image)) {
		c->gone_local++;
		return;
	}
	if (!c->target) {
		if (c->pool && hs_restore_pool_add(c->pool, image, &ages))
			c->pooled++;
		else
			c->skipped++;
	} else if (hs_worker_restore_flow(c->target, image, &ages, c->now, true) == HS_RESTORE_OK) {
		c->loaded++;
	} else {
		c->skipped++;
	}
}

/*
 * The verify memory and the buckets are hashed per worker under its key:
 * with another set of queues they cannot be given to the worker that will
 * see their sources, so they are not loaded.
 */
static void load_memory(void *ctx, const struct hs_snap_section *s, const struct hs_engine_memory_entry *e)
{
	struct load_ctx *c = ctx;
	struct hs_engine_memory_entry aged = *e;
	(void)s;

	if (!c->target || (e->kind == HS_MEMORY_BUCKET && !c->buckets_ok))
		return;
	aged.age_ms = e->age_ms + c->gap_ms;
	hs_worker_restore_memory(c->target, &aged, c->now);
}

static const struct hs_snap_visitor loader = { load_section, load_flow, load_memory };

/* Moves a refused snapshot aside, so that it can be looked at and is not tried again. */
static void refuse(struct hs_state_store *s, const char *path, const char *why)
{
	char bad[HS_PATH_MAX + 32];

	path_of(bad, sizeof(bad), s, ".bad");
	s->stats.load_refused++;
	if (rename(path, bad) < 0)
		log_warn("state: refusing snapshot %s: %s; renaming it to %s failed", path, why, bad);
	else
		log_error("state: refusing snapshot %s: %s; renamed to %s; starting with an empty table", path, why,
			  bad);
}

/* The sections of a snapshot: the queues in file order, and whether any holds flows of no queue. */
struct queue_list {
	uint32_t n;
	uint16_t queue[HS_MAX_QUEUES];
	uint32_t id_step;
	bool too_many, steps_differ, unassigned;
};

static void list_section(void *ctx, const struct hs_snap_section *s)
{
	struct queue_list *l = ctx;

	if (s->id_step == 0) {
		l->unassigned = true;
		return;
	}
	if (l->n >= HS_MAX_QUEUES) {
		l->too_many = true;
		return;
	}
	if (l->n && s->id_step != l->id_step)
		l->steps_differ = true;
	l->queue[l->n++] = s->queue;
	l->id_step = s->id_step;
}

/* Whether the snapshot's queues are the workers' queues, one section each, in order. */
static bool same_queue_set(struct hs_worker *const *workers, uint32_t n, const struct queue_list *l)
{
	if (l->too_many || l->steps_differ || l->n != n || l->id_step != n)
		return false;
	for (uint32_t i = 0; i < l->n; i++)
		if (l->queue[i] != hs_worker_queue(workers[i]))
			return false;
	return true;
}

/* Checks what the core cannot: the machine and the age.  NULL if the snapshot may be loaded. */
static const char *unusable(const struct hs_state_store *s, const struct hs_snap_header *h,
			    const struct hs_snap_header *here, uint64_t now_wall, char *buf, size_t size)
{
	static const uint8_t none[16];

	if (memcmp(h->machine, here->machine, 16) != 0 && memcmp(here->machine, none, 16) != 0) {
		snprintf(buf, size, "written on another machine (machine-id differs)");
		return buf;
	}
	if (now_wall > h->saved_wall_ms && now_wall - h->saved_wall_ms > s->max_age_ms) {
		snprintf(buf, size, "written %" PRIu64 " s ago, older than state.max_age (%" PRIu32 " s)",
			 (now_wall - h->saved_wall_ms) / 1000u, s->max_age_ms / 1000u);
		return buf;
	}
	return NULL;
}

/* A pool for the flows no worker of ours can be given now; false (logged) if memory is short. */
static bool open_pool(struct hs_state_store *s, uint64_t flows, uint64_t now)
{
	uint8_t key[16];

	if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key))
		memset(key, 0x5a, sizeof(key)); /* only the pool's bucket spread depends on it */
	if (flows > UINT32_MAX || !hs_restore_pool_init(&s->pool, (uint32_t)flows, key, now, now + s->max_age_ms)) {
		log_warnx("state: no memory for %" PRIu64 " restored flows: starting with an empty table", flows);
		return false;
	}
	s->pool_on = true;
	return true;
}

/* After the flows: new ids start above the snapshot's, in each worker's own sequence. */
static void finish_load(struct hs_state_store *s, struct load_ctx *c)
{
	for (uint32_t i = 0; i < c->nworkers; i++) {
		if (!c->same_queues)
			hs_worker_restore_ids_above(c->workers[i], c->id_floor);
		hs_worker_restore_end(c->workers[i]);
	}
	if (s->pool_on && atomic_load(&s->pool.waiting) == 0) {
		hs_restore_pool_free(&s->pool);
		s->pool_on = false;
	}
	for (uint32_t i = 0; s->pool_on && i < c->nworkers; i++)
		hs_worker_set_restore_pool(c->workers[i], &s->pool);
}

static void load_checked(struct hs_state_store *s, const char *path, const uint8_t *data, size_t len,
			struct hs_worker *const *workers, uint32_t nworkers)
{
	static const struct hs_snap_visitor sections = { list_section, NULL, NULL };
	struct hs_snap_header h, here;
	struct hs_snap_totals totals;
	struct queue_list queues = { 0 };
	char why[256];

	if (hs_snap_read(data, len, &h, &totals, &sections, &queues, why, sizeof(why)) < 0) {
		refuse(s, path, why);
		return;
	}
	this_host(&here);
	uint64_t now_wall = wall_ms();
	const char *stale = unusable(s, &h, &here, now_wall, why, sizeof(why));
	if (stale && strstr(stale, "machine")) {
		refuse(s, path, stale);
		return;
	}
	if (stale) {
		log_notice("state: not loading %s: %s", path, stale);
		return;
	}
	struct load_ctx c = { .workers = workers, .nworkers = nworkers, .now = hs_now_ms() };
	c.same_queues = same_queue_set(workers, nworkers, &queues);
	if ((!c.same_queues || queues.unassigned) && open_pool(s, totals.flows, c.now))
		c.pool = &s->pool;
	c.same_boot = memcmp(h.boot, here.boot, 16) == 0;
	/* A clock set back since the save counts as no gap at all. */
	c.gap_ms = now_wall > h.saved_wall_ms ? now_wall - h.saved_wall_ms : 0;
	c.gap_ticks = (uint32_t)(c.gap_ms / HS_TABLE_TICK_MS);
	/* Checked a moment ago, in memory of our own: delivered without checking again. */
	if (hs_snap_deliver(data, len, &loader, &c) < 0) {
		refuse(s, path, "unreadable on the second pass");
		return;
	}
	finish_load(s, &c);
	s->stats.requeued = !c.same_queues;
	s->stats.loaded_flows = c.loaded + c.pooled;
	s->stats.load_skipped = c.skipped + c.gone_local;
	log_notice("state: loaded %" PRIu64 " of %" PRIu64 " flows from %s, written %" PRIu64 " ms before%s",
		   c.loaded + c.pooled, totals.flows, path, c.gap_ms,
		   c.same_boot ? "" : " (after a reboot: flows of local sockets left out)");
	if (c.pooled)
		log_notice("state: %" PRIu64 " flows %s: each goes to the worker that sees its first packet, "
			   "within state.max_age (%" PRIu32 " s)", c.pooled,
			   c.same_queues ? "were not claimed by any worker of the daemon that wrote the snapshot"
					 : "come from a daemon with another set of queues",
			   s->max_age_ms / 1000u);
	if (c.skipped)
		log_warnx("state: %" PRIu64 " flows did not fit in the tables (table.max_flows)", c.skipped);
}

void hs_state_load(struct hs_state_store *s, struct hs_worker *const *workers, uint32_t nworkers)
{
	char path[HS_PATH_MAX + 32];
	uint64_t start = hs_now_ms();

	if (!s->dir[0])
		return;
	path_of(path, sizeof(path), s, "");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			log_info("state: no snapshot in %s: starting with an empty table", s->dir);
		else
			log_warn("state: %s", path);
		return;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		refuse(s, path, "not a regular file");
		return;
	}
	/*
	 * Read into memory of our own rather than mapped, so that nothing
	 * writing to the file meanwhile can change what was checked.
	 */
	size_t len = (size_t)st.st_size, got = 0;
	uint8_t *data = malloc(len ? len : 1);
	while (data && got < len) {
		ssize_t n = read(fd, data + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (!data || got < len) {
		log_warn("state: reading %s", path);
		free(data);
		return;
	}
	load_checked(s, path, data, len, workers, nworkers);
	free(data);
	s->stats.load_ms = hs_now_ms() - start;
}

uint64_t hs_state_pool_deadline(const struct hs_state_store *s)
{
	return s->pool_on ? s->pool.forget_ms : UINT64_MAX;
}

void hs_state_pool_expire(struct hs_state_store *s, uint64_t now_ms)
{
	if (!s->pool_on)
		return;
	uint64_t dropped = hs_restore_pool_expire(&s->pool, now_ms);
	if (dropped)
		log_notice("state: %" PRIu64 " restored flows saw no packet within state.max_age (%" PRIu32
			   " s) and are forgotten", dropped, s->max_age_ms / 1000u);
}

void hs_state_stats_get(struct hs_state_store *s, struct hs_state_stats *out)
{
	*out = s->stats;
	if (s->pool_on)
		hs_restore_pool_stats(&s->pool, &out->pool);
}

void hs_state_store_free(struct hs_state_store *s)
{
	if (s->pool_on)
		hs_restore_pool_free(&s->pool);
	s->pool_on = false;
}
