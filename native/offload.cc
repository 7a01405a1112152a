// Split and coalesce for TUN offloads (see offload.h). Measured choice: this lives in C++ beside the TUN
// reader and writer threads rather than in TypeScript, so a 64 KiB super-segment costs the JS thread one
// batch of ready MTU-sized packets and a coalesced write costs it nothing (the writer thread merges).
//
// Invariants: every function works on caller-owned memory and validates lengths before touching bytes;
// malformed input returns -1 / 1 (no merge), never reads out of bounds. Checksums are RFC 1071 ones'
// complement sums computed in memory byte order (the sum is byte-order independent when stored back the
// same way), 8 bytes at a time with end-around carry.
#include "offload.h"

#include <string.h>

namespace gw {

namespace {

const uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10, kCwr = 0x80;
const uint8_t kProtoTcp = 6, kProtoUdp = 17;

inline uint16_t Rd16(const uint8_t* p) { return (uint16_t)(p[0] << 8 | p[1]); }
inline uint32_t Rd32(const uint8_t* p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
inline void Wr16(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
inline void Wr32(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

inline uint64_t Sum(const uint8_t* p, size_t n, uint64_t s) {
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    s += w;
    s += (s < w);
    p += 8;
    n -= 8;
  }
  if (n >= 4) {
    uint32_t w;
    memcpy(&w, p, 4);
    s += w;
    s += (s < w);
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    uint16_t w;
    memcpy(&w, p, 2);
    s += w;
    s += (s < w);
    p += 2;
    n -= 2;
  }
  if (n) {
    uint8_t b[2] = {p[0], 0};
    uint16_t w;
    memcpy(&w, b, 2);
    s += w;
    s += (s < w);
  }
  return s;
}

// Folds to 16 bits, in memory order (store with memcpy).
inline uint16_t Fold(uint64_t s) {
  s = (s & 0xffffffffu) + (s >> 32);
  s = (s & 0xffffffffu) + (s >> 32);
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return (uint16_t)s;
}

// The TCP/UDP pseudo-header sum (RFC 793 / RFC 8200 §8.1): addresses, protocol, L4 length.
inline uint64_t PseudoSum(const uint8_t* ip, int version, uint8_t proto, uint32_t l4len) {
  uint8_t tail[8] = {0, 0, (uint8_t)(l4len >> 24), (uint8_t)(l4len >> 16), 0, 0, (uint8_t)(l4len >> 8), (uint8_t)l4len};
  tail[5] = proto;
  uint64_t s = version == 4 ? Sum(ip + 12, 8, 0) : Sum(ip + 8, 32, 0);
  return Sum(tail, 8, s);
}

inline void StoreSum(uint8_t* p, uint16_t memOrder) { memcpy(p, &memOrder, 2); }

void Ipv4HeaderChecksum(uint8_t* ip, uint32_t iphl) {
  ip[10] = ip[11] = 0;
  StoreSum(ip + 10, (uint16_t)~Fold(Sum(ip, iphl, 0)));
}

// An IP packet's layout as far as split/coalesce need it.
struct Flow {
  int version;
  uint8_t proto;
  uint32_t l4;    // offset of the TCP/UDP header
  uint32_t hdr;   // offset of the payload
  uint32_t payload;
};

// A plain (unfragmented, option-free IPv4 / extension-free IPv6) TCP or UDP packet whose IP length
// matches `len` exactly; false otherwise.
bool ParseFlow(const uint8_t* p, uint32_t len, Flow* f) {
  if (len < 20) return false;
  int v = p[0] >> 4;
  if (v == 4) {
    if ((p[0] & 15) != 5 || Rd16(p + 2) != len || (Rd16(p + 6) & 0x3fff) != 0) return false;  // MF or offset
    f->l4 = 20;
    f->proto = p[9];
  } else if (v == 6) {
    if (len < 40 || (uint32_t)Rd16(p + 4) + 40 != len) return false;
    f->l4 = 40;
    f->proto = p[6];
  } else {
    return false;
  }
  f->version = v;
  if (f->proto == kProtoTcp) {
    if (f->l4 + 20 > len) return false;
    uint32_t thl = (uint32_t)(p[f->l4 + 12] >> 4) * 4;
    if (thl < 20 || f->l4 + thl > len) return false;
    f->hdr = f->l4 + thl;
  } else if (f->proto == kProtoUdp) {
    if (f->l4 + 8 > len || Rd16(p + f->l4 + 4) != len - f->l4) return false;
    f->hdr = f->l4 + 8;
  } else {
    return false;
  }
  f->payload = len - f->hdr;
  return true;
}

}  // namespace

void ReadVnetHdr(const uint8_t* p, VnetHdr* h) {
  h->flags = p[0];
  h->gso_type = p[1];
  memcpy(&h->hdr_len, p + 2, 2);
  memcpy(&h->gso_size, p + 4, 2);
  memcpy(&h->csum_start, p + 6, 2);
  memcpy(&h->csum_offset, p + 8, 2);
}

void WriteVnetHdr(const VnetHdr& h, uint8_t* p) {
  p[0] = h.flags;
  p[1] = h.gso_type;
  memcpy(p + 2, &h.hdr_len, 2);
  memcpy(p + 4, &h.gso_size, 2);
  memcpy(p + 6, &h.csum_start, 2);
  memcpy(p + 8, &h.csum_offset, 2);
}

int GsoSplit(const uint8_t* pkt, uint32_t len, const VnetHdr& h, uint32_t first_seg, uint8_t* arena, uint32_t slot_size,
             uint32_t* lens, uint32_t max_out, uint32_t* total_segs) {
  *total_segs = 0;
  if (len < 20) return -1;
  int v = pkt[0] >> 4;
  uint32_t iphl;
  if (v == 4) {
    iphl = (uint32_t)(pkt[0] & 15) * 4;
    if (iphl < 20 || iphl > len) return -1;
  } else if (v == 6) {
    iphl = 40;
    if (len < 40) return -1;
  } else {
    return -1;
  }
  uint8_t gt = h.gso_type & (uint8_t)~kGsoEcn;
  if (gt == kGsoNone) {
    if (len > slot_size) return -1;
    *total_segs = 1;
    if (first_seg >= 1 || max_out < 1) return 0;
    memcpy(arena, pkt, len);
    if (h.flags & kVnetNeedsCsum) {
      // The field at csum_start + csum_offset holds the pseudo-header sum; fold in the rest and complement.
      uint32_t cs = h.csum_start, co = h.csum_offset;
      if (cs < iphl || cs + co + 2 > len) return -1;
      uint16_t c = (uint16_t)~Fold(Sum(arena + cs, len - cs, 0));
      if (c == 0 && co == 6) c = 0xffff;  // UDP: a computed zero is sent as all ones (RFC 768)
      StoreSum(arena + cs + co, c);
    }
    lens[0] = len;
    return 1;
  }
  bool tcp = gt == kGsoTcp4 || gt == kGsoTcp6;
  if (!tcp && gt != kGsoUdpL4) return -1;
  if ((gt == kGsoTcp4 && v != 4) || (gt == kGsoTcp6 && v != 6)) return -1;
  uint8_t proto = v == 4 ? pkt[9] : pkt[6];
  if (proto != (tcp ? kProtoTcp : kProtoUdp)) return -1;  // (IPv6 extension headers are not split)
  if (v == 4 && (Rd16(pkt + 6) & 0x3fff) != 0) return -1;
  uint32_t l4 = iphl;
  if (l4 + (tcp ? 20u : 8u) > len) return -1;
  uint32_t l4hl = tcp ? (uint32_t)(pkt[l4 + 12] >> 4) * 4 : 8;
  if (l4hl < (tcp ? 20u : 8u)) return -1;
  uint32_t hdr = l4 + l4hl;
  uint32_t gs = h.gso_size;
  if (hdr > len || gs == 0) return -1;
  uint32_t payload = len - hdr;
  uint32_t nsegs = payload == 0 ? 1 : (payload + gs - 1) / gs;
  if (hdr + (payload < gs ? payload : gs) > slot_size) return -1;
  *total_segs = nsegs;
  uint32_t id0 = v == 4 ? Rd16(pkt + 4) : 0;
  uint32_t seq0 = tcp ? Rd32(pkt + l4 + 4) : 0;
  uint8_t flags0 = tcp ? pkt[l4 + 13] : 0;
  uint32_t csum_at = l4 + (tcp ? 16 : 6);
  int out = 0;
  for (uint32_t i = first_seg; i < nsegs && (uint32_t)out < max_out; i++, out++) {
    uint8_t* o = arena + (size_t)out * slot_size;
    uint32_t off = i * gs;
    uint32_t seg = payload - off < gs ? payload - off : gs;
    memcpy(o, pkt, hdr);
    memcpy(o + hdr, pkt + hdr + off, seg);
    uint32_t total = hdr + seg;
    if (v == 4) {
      Wr16(o + 2, total);
      Wr16(o + 4, (id0 + i) & 0xffff);
      Ipv4HeaderChecksum(o, iphl);
    } else {
      Wr16(o + 4, total - 40);
    }
    uint32_t l4len = total - l4;
    if (tcp) {
      Wr32(o + l4 + 4, seq0 + off);
      uint8_t f = flags0;
      if (i != nsegs - 1) f &= (uint8_t)~(kFin | kPsh);
      if (i != 0) f &= (uint8_t)~kCwr;
      o[l4 + 13] = f;
    } else {
      Wr16(o + l4 + 4, l4len);
    }
    o[csum_at] = o[csum_at + 1] = 0;
    uint16_t c = (uint16_t)~Fold(Sum(o + l4, l4len, PseudoSum(o, v, proto, l4len)));
    if (!tcp && c == 0) c = 0xffff;
    StoreSum(o + csum_at, c);
    lens[out] = total;
  }
  return out;
}

uint32_t GroCoalesce(uint8_t* const* pkts, const uint32_t* lens, uint32_t n, uint32_t mode, VnetHdr* h, uint32_t* hdr_lens) {
  memset(h, 0, sizeof *h);
  if (n < 2) return 1;
  uint8_t* p0 = pkts[0];
  Flow f0;
  if (!ParseFlow(p0, lens[0], &f0) || f0.payload == 0) return 1;
  bool tcp = f0.proto == kProtoTcp;
  if (!(mode & (tcp ? kGroTcp : kGroUdp))) return 1;
  uint8_t flags0 = 0;
  uint32_t seq_next = 0;
  if (tcp) {
    flags0 = p0[f0.l4 + 13];
    // Only plain data segments merge: ACK set, and no SYN/FIN/RST/URG/ECE/CWR. A PSH ends a run, so a
    // segment carrying it can only be last.
    if (flags0 != kAck) return 1;
    seq_next = Rd32(p0 + f0.l4 + 4) + f0.payload;
  }
  uint32_t gs = f0.payload;
  uint32_t total = lens[0];
  uint32_t limit = f0.version == 4 ? 65535 : 65535 + 40;
  bool psh = false;
  bool fixed_id = false;
  uint32_t k = 1;
  hdr_lens[0] = 0;
  while (k < n && k < kGroMaxSegs) {
    const uint8_t* p = pkts[k];
    Flow f;
    if (!ParseFlow(p, lens[k], &f) || f.version != f0.version || f.proto != f0.proto || f.hdr != f0.hdr) break;
    if (f.payload == 0 || f.payload > gs || total + f.payload > limit) break;
    if (f0.version == 4) {
      // Same TOS (incl. ECN), DF and TTL, same addresses.
      if (p[1] != p0[1] || ((p[6] ^ p0[6]) & 0x40) || p[8] != p0[8] || memcmp(p + 12, p0 + 12, 8) != 0) break;
      // IDs count up by one per segment (what a connected socket and our split send), so splitting the
      // merged packet again gives back the very same packets; or, with DF, all equal (unconnected UDP
      // sends 0), the one relaxation the kernel's GRO makes as well.
      uint32_t id = Rd16(p + 4);
      if (k == 1) fixed_id = id == Rd16(p0 + 4) && (p0[6] & 0x40);
      if (fixed_id ? id != Rd16(p0 + 4) : id != ((Rd16(p0 + 4) + k) & 0xffff)) break;
    } else {
      // Same traffic class and flow label, hop limit, addresses.
      if (memcmp(p, p0, 4) != 0 || p[7] != p0[7] || memcmp(p + 8, p0 + 8, 32) != 0) break;
    }
    if (memcmp(p + f.l4, p0 + f0.l4, 4) != 0) break;  // ports
    uint8_t fl = 0;
    if (tcp) {
      fl = p[f.l4 + 13];
      if ((fl & (uint8_t)~kPsh) != flags0 || Rd32(p + f.l4 + 4) != seq_next) break;
      // Same ACK number and window, same options byte for byte (timestamps included, as the kernel's GRO).
      if (memcmp(p + f.l4 + 8, p0 + f0.l4 + 8, 4) != 0 || memcmp(p + f.l4 + 14, p0 + f0.l4 + 14, 2) != 0) break;
      if (memcmp(p + f.l4 + 20, p0 + f0.l4 + 20, f.hdr - f.l4 - 20) != 0) break;
      seq_next += f.payload;
    }
    hdr_lens[k] = f.hdr;
    total += f.payload;
    k++;
    if (fl & kPsh) {
      psh = true;
      break;
    }
    if (f.payload < gs) break;
  }
  if (k == 1) return 1;
  if (f0.version == 4) {
    Wr16(p0 + 2, total);
    Ipv4HeaderChecksum(p0, 20);
  } else {
    Wr16(p0 + 4, total - 40);
  }
  uint32_t l4len = total - f0.l4;
  uint32_t csum_at = f0.l4 + (tcp ? 16 : 6);
  if (tcp) {
    if (psh) p0[f0.l4 + 13] |= kPsh;
  } else {
    Wr16(p0 + f0.l4 + 4, l4len);
  }
  // NEEDS_CSUM: the field carries the (uncomplemented) pseudo-header sum; the kernel treats the payload
  // as checksummed. Segments' own checksums are not re-verified (their bytes were authenticated by the
  // AEAD, so they are exactly what the peer's stack sent).
  StoreSum(p0 + csum_at, Fold(PseudoSum(p0, f0.version, f0.proto, l4len)));
  h->flags = kVnetNeedsCsum;
  h->gso_type = tcp ? (f0.version == 4 ? kGsoTcp4 : kGsoTcp6) : kGsoUdpL4;
  h->hdr_len = (uint16_t)f0.hdr;
  h->gso_size = (uint16_t)gs;
  h->csum_start = (uint16_t)f0.l4;
  h->csum_offset = (uint16_t)(tcp ? 16 : 6);
  return k;
}

}  // namespace gw
