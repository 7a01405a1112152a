// The device's per-packet verdict hook: wireguard/ knows no filter, the agent adapts filter/ to this
// (agent/filter-hook.ts). Called on the hot path: implementations must not allocate per packet.

export interface PacketHook {
  /**
   * A decrypted inbound packet that passed the cryptokey source check, from the peer with this public
   * key (32 bytes). Return true to deliver it to the packet device.
   */
  inbound(buf: Uint8Array, off: number, len: number, peerKey: Uint8Array): boolean;
  /** An outbound packet read from the packet device, before encryption; return false to drop it. */
  outbound(buf: Uint8Array, off: number, len: number): boolean;
}
