// Interop with Debian's wireguard-go: our `bin/agent wg` in namespace gwi-b (underlay 192.0.2.2, UDP
// 51821, tunnel 198.51.100.2) and wireguard-go in gwi-a (192.0.2.1, 51820, 198.51.100.1), PSK on.
// Covers handshakes initiated by each side, ping and iperf3 both ways, a rekey after a shortened
// REKEY_AFTER_TIME, roaming of our endpoint, hostile and replayed datagrams, and message sizes on the
// wire (captured with tcpdump on the veth). Root only; namespaces and processes are removed afterwards.
import { describe, expect, it, beforeAll, afterAll, afterEach } from 'vitest';
import { execFileSync } from 'node:child_process';
import { writeFileSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { NetnsScope, haveCommand, isRoot, nsRun, sleep, waitFor, addAddr } from '../netns.js';
import { loadNative } from '../../net/native-addon.js';
import { generatePresharedKey, keyToBase64 } from '../../crypto/key.js';
import { startNode, newKeys, ping, tmpDir, iperf, REPO, type RunningNode, type NodeKeys } from './harness.js';
import { startCapture, wgType, type CapturedDatagram } from './pcap.js';

const missing = ['wireguard-go', 'wg', 'iperf3', 'tcpdump', 'ping'].filter((c) => !haveCommand(c));
const reason = !isRoot() ? 'needs root' : missing.length ? `missing ${missing.join(', ')}` : loadNative() === null ? 'native addon not built' : '';
if (reason) console.warn(`interop suite skipped: ${reason}`);

const LONG = !!process.env.GRANTWIRE_LONG;
const GO_IF = 'gwi-go0';
const OUR_IF = 'gwi-gw0';
const GO_UNDER = '192.0.2.1';
const OUR_UNDER = '192.0.2.2';
const GO_PORT = 51820;
const OUR_PORT = 51821;
const GO_TUN = '198.51.100.1';
const OUR_TUN = '198.51.100.2';

describe.skipIf(reason !== '')('interop with wireguard-go', { timeout: 120_000 }, () => {
  const scope = new NetnsScope();
  let dir = '';
  let nsA = '';
  let nsB = '';
  let vethB = '';
  let goKeys: NodeKeys;
  let ourKeys: NodeKeys;
  let psk = '';
  let nodes: RunningNode[] = [];

  beforeAll(() => {
    dir = tmpDir('gwi-');
    const p = scope.pair('gwi-', `${GO_UNDER}/24`, `${OUR_UNDER}/24`);
    nsA = p.a;
    nsB = p.b;
    vethB = p.ifB;
    goKeys = newKeys();
    ourKeys = newKeys();
    psk = keyToBase64(generatePresharedKey());
  });

  afterEach(async () => {
    for (const n of nodes) await scope.stop(n.proc, 3000);
    nodes = [];
  });

  afterAll(async () => {
    await scope.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function startPair(opts: { ourArgs?: string[]; goKnowsUs?: boolean } = {}): Promise<{ go: RunningNode; us: RunningNode }> {
    const go = await startNode(scope, {
      kind: 'wggo',
      ns: nsA,
      ifname: GO_IF,
      keys: goKeys,
      port: GO_PORT,
      address: `${GO_TUN}/24`,
      peers: [{ pub: ourKeys.pub, psk, allowedIPs: [`${OUR_TUN}/32`], endpoint: opts.goKnowsUs === false ? undefined : `${OUR_UNDER}:${OUR_PORT}` }],
    }, dir);
    nodes.push(go);
    const us = await startNode(scope, {
      kind: 'ours',
      ns: nsB,
      ifname: OUR_IF,
      keys: ourKeys,
      port: OUR_PORT,
      address: `${OUR_TUN}/24`,
      peers: [{ pub: goKeys.pub, psk, allowedIPs: [`${GO_TUN}/32`], endpoint: `${GO_UNDER}:${GO_PORT}` }],
      extraArgs: opts.ourArgs,
    }, dir);
    nodes.push(us);
    return { go, us };
  }

  const fromUs = (d: CapturedDatagram): boolean => d.src === OUR_UNDER && d.sport === OUR_PORT;
  const fromGo = (d: CapturedDatagram): boolean => d.src === GO_UNDER && d.sport === GO_PORT;
  const sizes = (list: CapturedDatagram[], type: number): number[] => list.filter((d) => wgType(d.payload) === type).map((d) => d.payload.length);

  it('we initiate: handshake, ping both ways, PSK, message sizes and padding on the wire, keylog decrypts', async () => {
    const cap = await startCapture(scope, nsB, vethB, path.join(dir, 'ours-init.pcap'));
    const { go, us } = await startPair();
    expect(ping(nsB, GO_TUN, 3)).toBe(true);
    expect(ping(nsA, OUR_TUN, 3)).toBe(true);
    for (const s of [0, 1, 100, 1392]) expect(ping(nsB, GO_TUN, 1, s)).toBe(true);
    // A keepalive from us: turn on persistent keepalive through our UAPI socket.
    go.wg('show', GO_IF); // wg talks to either implementation the same way
    nsRun(nsB, 'wg', ['set', OUR_IF, 'peer', goKeys.pub, 'persistent-keepalive', '1']);
    await sleep(2500);
    const wire = await cap.stop();

    // Handshake: our initiation (148) first, then wireguard-go's response (92).
    const hs = wire.filter((d) => wgType(d.payload) === 1 || wgType(d.payload) === 2);
    expect(hs.length).toBeGreaterThanOrEqual(2);
    expect(fromUs(hs[0]) && wgType(hs[0].payload) === 1).toBe(true);
    expect(hs[0].payload.length).toBe(148);
    expect(hs.find((d) => fromGo(d) && wgType(d.payload) === 2)?.payload.length).toBe(92);
    for (const n of sizes(wire.filter(fromUs), 1)) expect(n).toBe(148);
    // Transport from us: 32 + plaintext padded to 16, capped at the MTU (1420).
    const ours = sizes(wire.filter(fromUs), 4);
    for (const n of ours) expect((n - 32) % 16 === 0 || n === 32 + 1420).toBe(true);
    expect(ours).toContain(32); // keepalive
    expect(ours).toContain(64); // ping -s 0 and -s 1: 28/29-byte IP packets
    expect(ours).toContain(160); // ping -s 100
    expect(ours).toContain(1452); // ping -s 1392: 1420 bytes, the MTU cap
    expect(sizes(wire.filter(fromGo), 4)).toEqual(expect.arrayContaining([64, 160, 1452]));

    // Both sides report the session and the PSK through UAPI.
    const goPeer = go.dump()[0];
    const ourPeer = us.dump()[0];
    expect(goPeer.lastHandshake).toBeGreaterThan(0);
    expect(ourPeer.lastHandshake).toBeGreaterThan(0);
    expect(ourPeer.rx).toBeGreaterThan(0);
    expect(nsRun(nsB, 'wg', ['show', OUR_IF, 'preshared-keys']).trim().split('\t')[1]).toBe(psk);
    expect(go.log()).toContain('Received handshake initiation');

    // tshark decrypts the capture with our key log (static, ephemeral, PSK): our keys are what we used.
    const keylog = readFileSync(us.keyLogFile, 'utf8');
    expect(keylog).toMatch(/LOCAL_STATIC_PRIVATE_KEY = /);
    expect(keylog).toMatch(/LOCAL_EPHEMERAL_PRIVATE_KEY = /);
    expect(keylog).toContain(`PRESHARED_KEY = ${psk}`);
    if (haveCommand('tshark')) {
      const out = execFileSync('tshark', ['-r', cap.file, '-o', `wg.keylog_file:${us.keyLogFile}`, '-d', `udp.port==${OUR_PORT},wg`,
        '-Y', 'wg.type == 1 || wg.type == 2', '-T', 'fields', '-e', 'wg.type', '-e', 'wg.handshake_ok'], { encoding: 'utf8', timeout: 60_000 });
      const rows = out.trim().split('\n').map((l) => l.split('\t'));
      // Decrypting wireguard-go's response needs our ephemeral private key and the PSK from our log.
      expect(rows.find((r) => r[0] === '2')?.[1]).toBe('1');
    }
  });

  it('wireguard-go initiates: we answer with a 92-byte response, ping both ways', async () => {
    const cap = await startCapture(scope, nsB, vethB, path.join(dir, 'go-init.pcap'));
    const { us } = await startPair();
    expect(ping(nsA, OUR_TUN, 3)).toBe(true);
    expect(ping(nsB, GO_TUN, 3)).toBe(true);
    const wire = await cap.stop();
    const hs = wire.filter((d) => wgType(d.payload) === 1 || wgType(d.payload) === 2);
    expect(fromGo(hs[0]) && wgType(hs[0].payload) === 1 && hs[0].payload.length === 148).toBe(true);
    const resp = hs.find((d) => fromUs(d) && wgType(d.payload) === 2);
    expect(resp?.payload.length).toBe(92);
    expect(us.dump()[0].lastHandshake).toBeGreaterThan(0);
    if (haveCommand('tshark')) {
      // As responder: our static key opens the initiation, our ephemeral key + PSK open our response.
      const out = execFileSync('tshark', ['-r', cap.file, '-o', `wg.keylog_file:${us.keyLogFile}`, '-d', `udp.port==${OUR_PORT},wg`,
        '-Y', 'wg.type == 1 || wg.type == 2', '-T', 'fields', '-e', 'wg.type', '-e', 'wg.handshake_ok', '-e', 'wg.static'], { encoding: 'utf8', timeout: 60_000 });
      const rows = out.trim().split('\n').map((l) => l.split('\t'));
      expect(rows.find((r) => r[0] === '1')?.[2]).toBe(goKeys.pub); // initiator's static, decrypted
      expect(rows.find((r) => r[0] === '2')?.[1]).toBe('1');
    }
  });

  it('iperf3 TCP both ways', async () => {
    await startPair();
    expect(ping(nsB, GO_TUN, 2)).toBe(true);
    const secs = LONG ? 5 : 2;
    const up = await iperf(scope, nsA, GO_TUN, nsB, secs, 5301);
    const down = await iperf(scope, nsB, OUR_TUN, nsA, secs, 5302);
    console.log(`interop iperf3: ours→wireguard-go ${up.gbps.toFixed(3)} Gbit/s, wireguard-go→ours ${down.gbps.toFixed(3)} Gbit/s`);
    expect(up.gbps).toBeGreaterThan(0.01);
    expect(down.gbps).toBeGreaterThan(0.01);
  });

  it('rekeys after a shortened REKEY_AFTER_TIME on our side without losing traffic', async () => {
    const { go, us } = await startPair({ ourArgs: ['--rekey-after', '2s'] });
    const out = nsRun(nsB, 'ping', ['-c', '60', '-i', '0.2', '-W', '2', GO_TUN]);
    const received = Number(/(\d+) received/.exec(out)?.[1] ?? 0);
    expect(received).toBeGreaterThanOrEqual(59);
    // 12 s of traffic with a 2 s rekey interval (initiations at most every REKEY_TIMEOUT = 5 s): at least
    // two more handshakes, initiated by us.
    const inits = go.log().split('\n').filter((l) => l.includes('Received handshake initiation')).length;
    expect(inits).toBeGreaterThanOrEqual(3);
    const ephemerals = readFileSync(us.keyLogFile, 'utf8').split('\n').filter((l) => l.startsWith('LOCAL_EPHEMERAL_PRIVATE_KEY')).length;
    expect(ephemerals).toBeGreaterThanOrEqual(3);
    expect(ping(nsA, OUR_TUN, 3)).toBe(true);
  });

  it('follows our endpoint when our underlay address changes mid-session (roaming)', async () => {
    const { go } = await startPair();
    expect(ping(nsB, GO_TUN, 2)).toBe(true);
    expect(go.dump()[0].endpoint).toBe(`${OUR_UNDER}:${OUR_PORT}`);
    // Swap the address (flush first: deleting a primary address also removes its secondaries).
    nsRun(nsB, 'ip', ['-4', 'addr', 'flush', 'dev', vethB]);
    addAddr(nsB, vethB, '192.0.2.3/24');
    try {
      // Our next authenticated packets come from 192.0.2.3; wireguard-go must switch its endpoint.
      expect(ping(nsB, GO_TUN, 3)).toBe(true);
      expect(await waitFor(() => go.dump()[0].endpoint === `192.0.2.3:${OUR_PORT}`, 3000)).toBe(true);
      expect(ping(nsA, OUR_TUN, 3)).toBe(true);
    } finally {
      nsRun(nsB, 'ip', ['-4', 'addr', 'flush', 'dev', vethB]);
      addAddr(nsB, vethB, `${OUR_UNDER}/24`);
    }
  });

  it('ignores garbage and replayed datagrams without harm', async () => {
    const { go, us } = await startPair();
    const cap = await startCapture(scope, nsB, vethB, path.join(dir, 'replay.pcap'));
    expect(ping(nsA, OUR_TUN, 5)).toBe(true);
    const wire = await cap.stop();
    const toUs = wire.filter((d) => fromGo(d) && d.dport === OUR_PORT);
    expect(toUs.some((d) => wgType(d.payload) === 1)).toBe(true); // includes wireguard-go's initiation
    const replayFile = path.join(dir, 'replay.hex');
    writeFileSync(replayFile, toUs.map((d) => Buffer.from(d.payload).toString('hex')).join('\n') + '\n');

    const before = us.dump()[0];
    const goBefore = go.dump()[0];
    const count = LONG ? 20_000 : 3000;
    const res = JSON.parse(nsRun(nsA, process.execPath, ['--import', `file://${REPO}/node_modules/tsx/dist/loader.mjs`,
      path.join(REPO, 'test/interop/udp-blast.ts'), OUR_UNDER, String(OUR_PORT), String(count), replayFile, '40000']));
    expect(res).toEqual({ random: count, replayed: toUs.length });
    await sleep(500);
    // Still alive, same session, and no replayed echo request produced an echo reply: our transmit
    // counter moved by at most a keepalive or two.
    expect(us.proc.exitCode).toBeNull();
    const after = us.dump()[0];
    expect(after.lastHandshake).toBe(before.lastHandshake);
    expect(after.tx - before.tx).toBeLessThanOrEqual(2 * 32);
    expect(after.endpoint).toBe(`${GO_UNDER}:${GO_PORT}`); // replays from port 40000 did not move it
    expect(go.dump()[0].lastHandshake).toBe(goBefore.lastHandshake);
    expect(ping(nsB, GO_TUN, 3)).toBe(true);
    expect(ping(nsA, OUR_TUN, 3)).toBe(true);
    // Our counters (printed on SIGINT/SIGTERM with --verbose) show the drops by reason.
    await scope.stop(us.proc, 3000);
    const counters = JSON.parse(/wg: counters (\{.*\})/.exec(us.log())?.[1] ?? '{}') as Record<string, number>;
    expect(counters.drop_replay + counters.drop_handshake_replay).toBeGreaterThan(0);
    expect(counters.drop_invalid_message + counters.drop_bad_mac1 + counters.drop_invalid_index).toBeGreaterThan(count / 2);
  });
});
