/*
 * hs_drop_pcap: the capture of what the daemon drops (`log.pcap`).  It owns
 * one ring per worker and a writer thread.  A worker puts each packet it
 * drops into its own ring (preallocated, never blocking, no system call: a
 * full ring counts the packet as lost) and the writer moves the rings' contents
 * to a pcap file of raw IP packets, as much of each as the queue copied
 * (queue.copy_range) with its length on the wire, and rotates the file to
 * FILE.1 when it would grow past log.pcap_max_mb.  So an operator opens in
 * Wireshark exactly what was dropped, or replays it with `handshaked -r`.
 */
#ifndef HS_DROP_PCAP_H
#define HS_DROP_PCAP_H

#include <stddef.h>
#include <stdint.h>

struct hs_drop_pcap;
struct hs_drop_ring;

struct hs_drop_pcap_stats {
	uint64_t written;           /* packets written to the file */
	uint64_t lost;              /* packets a full ring could not take */
	uint64_t write_errors;      /* packets the file refused (disk full, ...) */
	uint64_t rotations;         /* times the file was moved to FILE.1 */
};

/*
 * Opens path for writing (an existing file is first moved to path.1, so
 * the previous run's drops are kept as the old file), with a ring for
 * each of nrings workers and records of at most snaplen bytes, and starts
 * the writer.  NULL with a message in err on failure.
 */
struct hs_drop_pcap *hs_drop_pcap_open(const char *path, uint32_t max_mb, uint32_t snaplen, uint32_t nrings,
				       char *err, size_t errlen);

/* Worker i's ring (i < nrings). */
struct hs_drop_ring *hs_drop_pcap_ring(struct hs_drop_pcap *dp, uint32_t i);

/*
 * Called by the ring's worker for a packet it drops: the IP packet's first
 * caplen bytes (cut to the snap length) and its length on the wire.  The
 * time is taken here.  Never blocks and never allocates.
 */
void hs_drop_ring_put(struct hs_drop_ring *ring, const uint8_t *data, uint32_t caplen, uint32_t wire_len);

void hs_drop_pcap_stats(struct hs_drop_pcap *dp, struct hs_drop_pcap_stats *out);

/* Writes what the rings still hold, stops the writer and closes the file.  NULL is fine. */
void hs_drop_pcap_close(struct hs_drop_pcap *dp);

#endif
