/*
 * hs_capture_read: reads packet capture files (pcap and pcapng, through
 * libpcap) record by record, from a file or standard input, and finds the
 * IP packet in each record with hs_link_layer.  It owns the capture's
 * handle, its link type and the wording of what is wrong with a file: not
 * a capture, a link type handshaked cannot read (named), or a record cut
 * short (with how many records came before it).
 */
#ifndef HS_CAPTURE_READ_H
#define HS_CAPTURE_READ_H

#include <stddef.h>
#include <stdint.h>

#include "hs_link_layer.h"

struct hs_capture_record {
	uint64_t ts_us;             /* capture time: microseconds since the epoch */
	enum hs_link_result link;   /* HS_LINK_IP: ip points at an IP header */
	const uint8_t *ip;          /* valid until the next hs_capture_next call */
	size_t ip_caplen;           /* bytes captured from ip on */
	size_t ip_wire_len;         /* the IP packet's length on the wire; 0 if all of it was captured */
};

struct hs_capture;

/*
 * Opens path ("-" for standard input).  NULL with a one-line message in
 * err (naming the file) if it cannot be read, is not a capture, or holds a
 * link type handshaked does not read.
 */
struct hs_capture *hs_capture_open(const char *path, char *err, size_t errlen);

/*
 * Reads the next record: 1 and *rec filled, 0 at the end of the capture,
 * -1 with a message in err (a truncated or unreadable record, with the
 * number of records read before it).
 */
int hs_capture_next(struct hs_capture *cap, struct hs_capture_record *rec, char *err, size_t errlen);

/* Records read so far. */
uint64_t hs_capture_records(const struct hs_capture *cap);
/* The capture's link type: its libpcap name ("EN10MB", "LINUX_SLL2"). */
const char *hs_capture_link_name(const struct hs_capture *cap);

void hs_capture_close(struct hs_capture *cap);

#endif
