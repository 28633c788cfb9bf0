/*
 * capture_read: capture files through libpcap (hs_capture_read.h).
 *
 * libpcap reads both pcap (either byte order, micro- or nanosecond
 * timestamps) and pcapng (several interfaces, each with its own timestamp
 * resolution, as long as they share one link type), so this module only
 * maps libpcap's link types onto hs_link_layer's framings and turns
 * libpcap's messages into ones that say what is wrong with the file.
 */
#include "hs_capture_read.h"

#include <errno.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hs_capture {
	pcap_t *pcap;
	enum hs_link_type link;
	int dlt;
	uint64_t records;
	char name[256];             /* the file as messages name it */
};

/* libpcap's link types (DLT_*, as pcap_datalink() reports them) that hs_link_layer reads. */
static int link_from_dlt(int dlt, enum hs_link_type *out)
{
	switch (dlt) {
	case DLT_EN10MB:
		*out = HS_LINK_ETHERNET;
		return 0;
	case DLT_LINUX_SLL:
		*out = HS_LINK_SLL;
		return 0;
	case DLT_LINUX_SLL2:
		*out = HS_LINK_SLL2;
		return 0;
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
		*out = HS_LINK_RAW;
		return 0;
	case DLT_NULL:
		*out = HS_LINK_NULL;
		return 0;
	case DLT_LOOP:
		*out = HS_LINK_LOOP;
		return 0;
	default:
		return -1;
	}
}

/* libpcap says "unknown file format" for anything that is neither pcap nor pcapng. */
static void open_error(char *err, size_t errlen, const char *name, const char *why)
{
	if (strstr(why, "unknown file format") || strstr(why, "file header bytes, only got"))
		snprintf(err, errlen, "%s: not a pcap or pcapng capture (%s)", name, why);
	else
		snprintf(err, errlen, "%s: %s", name, why);
}

struct hs_capture *hs_capture_open(const char *path, char *err, size_t errlen)
{
	char why[PCAP_ERRBUF_SIZE] = "";
	struct hs_capture *cap = calloc(1, sizeof(*cap));

	if (!cap) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	snprintf(cap->name, sizeof(cap->name), "%s", strcmp(path, "-") == 0 ? "standard input" : path);
	cap->pcap = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_MICRO, why);
	if (!cap->pcap) {
		open_error(err, errlen, cap->name, why);
		free(cap);
		return NULL;
	}
	cap->dlt = pcap_datalink(cap->pcap);
	if (link_from_dlt(cap->dlt, &cap->link) < 0) {
		const char *name = pcap_datalink_val_to_name(cap->dlt);
		const char *desc = pcap_datalink_val_to_description(cap->dlt);
		snprintf(err, errlen,
			 "%s: unsupported link type %s (%s, %d): handshaked reads Ethernet, Linux cooked (SLL, SLL2), "
			 "raw IP and loopback captures",
			 cap->name, name ? name : "unknown", desc ? desc : "no description", cap->dlt);
		hs_capture_close(cap);
		return NULL;
	}
	return cap;
}

int hs_capture_next(struct hs_capture *cap, struct hs_capture_record *rec, char *err, size_t errlen)
{
	struct pcap_pkthdr *hdr;
	const u_char *data;
	int rc = pcap_next_ex(cap->pcap, &hdr, &data);

	if (rc == PCAP_ERROR_BREAK)
		return 0;
	if (rc != 1) {
		const char *why = pcap_geterr(cap->pcap);
		snprintf(err, errlen, "%s: %s after %" PRIu64 " packets (%s)", cap->name,
			 strstr(why, "truncated") ? "truncated record" : "unreadable record", cap->records, why);
		return -1;
	}
	cap->records++;
	rec->ts_us = (uint64_t)hdr->ts.tv_sec * 1000000u + (uint64_t)hdr->ts.tv_usec;
	size_t offset = 0;
	rec->link = hs_link_find_ip(cap->link, data, hdr->caplen, &offset);
	if (rec->link != HS_LINK_IP) {
		rec->ip = NULL;
		rec->ip_caplen = rec->ip_wire_len = 0;
		return 1;
	}
	rec->ip = data + offset;
	rec->ip_caplen = hdr->caplen - offset;
	/* The parser takes the real length only when the capture cut the packet short. */
	rec->ip_wire_len = hdr->len > hdr->caplen && hdr->len > offset ? hdr->len - offset : 0;
	return 1;
}

uint64_t hs_capture_records(const struct hs_capture *cap)
{
	return cap->records;
}

const char *hs_capture_link_name(const struct hs_capture *cap)
{
	const char *name = pcap_datalink_val_to_name(cap->dlt);
	return name ? name : "unknown";
}

void hs_capture_close(struct hs_capture *cap)
{
	if (!cap)
		return;
	if (cap->pcap)
		pcap_close(cap->pcap);
	free(cap);
}
