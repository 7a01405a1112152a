// The switches for the data plane's kernel offloads, read from the environment so that the agent, the
// standalone `agent wg` and the benchmarks share them: GRANTWIRE_OFFLOAD=0 turns every offload off (the
// pre-offload data path: plain TUN, one datagram per receive slot), GRANTWIRE_TUN_OFFLOAD=0 only the TUN's
// (virtio-net header, TSO/USO, checksum offload, GRO on writes), GRANTWIRE_UDP_GRO=0 only UDP GRO on receive.
// UDP GSO on send has its own older switch (NativeUdpOptions.gso).

/** TUN offloads wanted (default on). */
export function tunOffloadEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.GRANTWIRE_OFFLOAD !== '0' && env.GRANTWIRE_TUN_OFFLOAD !== '0';
}

/** UDP GRO on the receive socket wanted (default on). */
export function udpGroEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.GRANTWIRE_OFFLOAD !== '0' && env.GRANTWIRE_UDP_GRO !== '0';
}
