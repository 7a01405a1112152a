// The userspace agent's inbound forwarding as the Linux kernel sees it (root only): the kernel, on the far
// side of a TUN in the namespace gwu2-k, is the tailnet peer of a NetstackDevice running HostForwarder
// (test/userspace/kernel-forward-peer.ts). A port served on the namespace's 127.0.0.1 answers through the
// forwarder, TCP and UDP, IPv4 and IPv6; a port nothing serves gives the kernel's own client exactly what a
// closed port gives it — connect() fails with ECONNREFUSED (the RST|ACK to its SYN) and a connected UDP
// socket gets ECONNREFUSED (the ICMP/ICMPv6 port unreachable quoting its datagram); a host port whose
// dial hangs (SYNs dropped on the namespace's loopback) leaves the peer's SYN unanswered — the kernel's
// client just retransmits, as toward a filtered port — while each hold expires and the next SYN dials again.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadNative, nativeLoadError } from '../../net/native-addon.js';
import { createNetns, deleteNetns, isRoot } from '../netns.js';
import type { Outcomes } from './kernel-forward-peer.js';

const NS = 'gwu2-k';
const skip = !isRoot() || loadNative() === null;
if (skip) console.warn(`kernel-forward.test: skipped (${!isRoot() ? 'needs root for a TUN in a namespace' : nativeLoadError()})`);

describe.skipIf(skip)('inbound forwarding seen by the Linux kernel as the tailnet peer (root, namespace gwu2-k)', () => {
  beforeAll(() => createNetns(NS));
  afterAll(() => deleteNetns(NS));

  it('open ports answer through the forwarder; closed ones are refused exactly as a kernel port would refuse', async () => {
    const { stdout } = await promisify(execFile)('ip', ['netns', 'exec', NS, process.execPath, '--import', 'tsx', 'test/userspace/kernel-forward-peer.ts'], { encoding: 'utf8', timeout: 60_000 });
    const out = JSON.parse(stdout.trim().split('\n').pop()!) as Outcomes;
    expect(out).toEqual({
      'tcp4 open': 'data tcp-host',
      'tcp4 closed': 'ECONNREFUSED',
      'udp4 open': 'data udp-host ping',
      'udp4 closed': 'ECONNREFUSED',
      'tcp6 open': 'data tcp-host',
      'tcp6 closed': 'ECONNREFUSED',
      'udp6 open': 'data udp-host ping',
      'udp6 closed': 'ECONNREFUSED',
      'tcp4 dial hangs': 'timeout',
      stats: 'forwarded 2 refused 2 udpRefused 2',
      // the hanging dial: given up with each hold (the first SYN's and a retransmission's), nothing sent but the 2 refusals' RSTs
      hold: 'dialTimeouts ≥2 expired ≥2 resets 2',
    });
  }, 90_000);
});
