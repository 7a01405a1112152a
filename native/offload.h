// TUN offloads (IFF_VNET_HDR + TUNSETOFFLOAD): the virtio-net header that precedes every packet on such a
// TUN fd, the split of a kernel super-segment (TSO / USO) into MTU-sized IP packets, and the coalescing of
// consecutive segments of one TCP or UDP flow into a super-segment for the kernel (GRO, the way in).
// Pure byte logic on caller-owned memory: no allocation, no syscalls, no N-API (offload.cc exports thin
// wrappers for tests). Facts from the kernel's include/linux/virtio_net.h, net/ipv4/tcp_offload.c and
// drivers/net/tun.c, restated.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace gw {

// struct virtio_net_hdr (10 bytes, the TUN default vnet header size), fields in host byte order.
const uint32_t kVnetHdrLen = 10;
const uint8_t kVnetNeedsCsum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM: csum_start/csum_offset hold a partial sum
const uint8_t kGsoNone = 0;
const uint8_t kGsoTcp4 = 1;
const uint8_t kGsoTcp6 = 4;
const uint8_t kGsoUdpL4 = 5;  // VIRTIO_NET_HDR_GSO_UDP_L4 (USO, Linux 6.2+)
const uint8_t kGsoEcn = 0x80;

// TUNSETOFFLOAD feature bits (linux/if_tun.h; the USO bits are newer than some libc headers).
const unsigned kTunFCsum = 0x01, kTunFTso4 = 0x02, kTunFTso6 = 0x04, kTunFUso4 = 0x20, kTunFUso6 = 0x40;

struct VnetHdr {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
};

void ReadVnetHdr(const uint8_t* p, VnetHdr* h);
void WriteVnetHdr(const VnetHdr& h, uint8_t* p);

// Splits one packet read from a vnet-header TUN (header already parsed, `pkt` the IP packet) into IP
// packets in `arena` slots of `slot_size` bytes, lengths in `lens`, at most `max_out`, starting with
// segment `first_seg`. A non-GSO packet yields itself, its checksum completed when NEEDS_CSUM is set.
// Returns the number written (≥ 0), or -1 when the packet is malformed (drop it). `*total_segs` receives
// the number of segments the packet makes, so a caller with too few free slots continues later from
// first_seg + returned. Each segment gets its own IP length, IPv4 ID (+i) and header checksum, TCP
// sequence number, flags (FIN/PSH only on the last, CWR only on the first) and a full L4 checksum.
int GsoSplit(const uint8_t* pkt, uint32_t len, const VnetHdr& h, uint32_t first_seg, uint8_t* arena, uint32_t slot_size,
             uint32_t* lens, uint32_t max_out, uint32_t* total_segs);

// Coalescing modes (bits).
const uint32_t kGroTcp = 1, kGroUdp = 2;

// Decides how many of pkts[0..n) (consecutive IP packets, as they would be written in order) merge into
// one super-segment with pkts[0], given `mode`: same flow and IP header fields, TCP sequence contiguous,
// IPv4 IDs counting up by one (or all equal with DF), equal payload sizes but a shorter last one; a TCP
// run holds only plain ACK segments, PSH allowed on the last. Requires n ≥ 1; returns k in 1..n. When k > 1, pkts[0]'s headers are rewritten in place for the merged packet (lengths, PSH,
// IPv4 header checksum, the L4 checksum field set to the pseudo-header sum) and `h` describes it
// (NEEDS_CSUM, gso_type, gso_size, csum_start/offset, hdr_len); `hdr_lens[j]` gets the byte count of
// headers to skip in pkts[j] (its payload follows). When k == 1, nothing is changed and `h` is all zero.
uint32_t GroCoalesce(uint8_t* const* pkts, const uint32_t* lens, uint32_t n, uint32_t mode, VnetHdr* h, uint32_t* hdr_lens);

// Most segments merged into one super-segment (iovec count stays small; the kernel's own GRO limit is 64).
const uint32_t kGroMaxSegs = 64;

}  // namespace gw
