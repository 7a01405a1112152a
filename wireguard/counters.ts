// Device counters: plain numeric fields (a fixed-shape object, so increments on the packet path are
// cheap), exported as a flat record for metrics. Drop counters are named drop_<reason>.
export class DeviceCounters {
  rx_packets = 0;
  rx_bytes = 0;
  tx_packets = 0;
  tx_bytes = 0;
  keepalives_sent = 0;
  keepalives_received = 0;
  handshake_initiations_sent = 0;
  handshake_initiations_received = 0;
  handshake_responses_sent = 0;
  handshake_responses_received = 0;
  handshakes_completed = 0;
  cookie_replies_sent = 0;
  cookie_replies_received = 0;
  under_load_events = 0;
  /** Transport messages accepted out of order (below the highest counter seen on their keypair). */
  rx_out_of_order = 0;
  /** Exceptions from a hook, the packet device or the bind, caught so the device keeps running. */
  internal_errors = 0;
  // drops, by reason
  drop_invalid_message = 0;
  drop_bad_mac1 = 0;
  drop_bad_mac2 = 0;
  drop_ratelimited = 0;
  drop_handshake_queue_full = 0;
  drop_handshake_decrypt_failed = 0;
  drop_handshake_unknown_peer = 0;
  drop_handshake_replay = 0;
  drop_handshake_flood = 0;
  drop_handshake_bad_dh = 0;
  drop_handshake_unexpected = 0;
  drop_bad_cookie_reply = 0;
  drop_invalid_index = 0;
  drop_expired_keypair = 0;
  drop_decrypt_failed = 0;
  drop_replay = 0;
  drop_invalid_ip = 0;
  drop_truncated = 0;
  drop_spoofed_source = 0;
  drop_filtered_inbound = 0;
  drop_filtered_outbound = 0;
  drop_tun_write = 0;
  drop_no_route = 0;
  drop_no_endpoint = 0;
  drop_staged_overflow = 0;
  drop_staged_expired = 0;
  drop_send_error = 0;

  toRecord(): Record<string, number> {
    return { ...this } as unknown as Record<string, number>;
  }

  /** Increments the counter named by a handshake failure reason (see handshake.ts R_HS_*). */
  dropHandshake(reason: string): void {
    const self = this as unknown as Record<string, number>;
    const key = `drop_${reason}`;
    if (typeof self[key] === 'number') self[key]++;
    else this.drop_handshake_unexpected++;
  }
}
