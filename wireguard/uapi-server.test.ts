// The UAPI socket server: framing and replies against a scripted host in a temp dir, then a real Device
// driven by the real `wg` tool through /var/run/wireguard (root and wireguard-tools only).
import { describe, expect, it, afterEach } from 'vitest';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { UapiServer, type UapiHost } from './uapi-server.js';
import type { UapiSetRequest } from './uapi-protocol.js';
import { Device } from './device.js';
import { FakePacketDevice } from '../net/fake-packet-device.js';
import { DgramUdpBind } from '../net/udp-dgram.js';
import { deviceUapiHost } from './uapi-device.js';
import { generatePrivateKey, keyToBase64, publicKeyFromPrivate, keyToHex, generatePresharedKey } from '../crypto/key.js';
import { haveCommand, isRoot } from '../test/netns.js';

function request(file: string, text: string, replies = 1): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(file);
    let got = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => {
      got += d;
      if (got.split('\n\n').length - 1 >= replies) {
        c.end();
        resolve(got);
      }
    });
    c.on('error', reject);
    c.write(text);
  });
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

describe('UapiServer framing', () => {
  function scripted(): { host: UapiHost; sets: UapiSetRequest[] } {
    const sets: UapiSetRequest[] = [];
    return {
      sets,
      host: {
        get: () => ({ listenPort: 1234, peers: [] }),
        set: (r) => {
          sets.push(r);
          return r.listenPort === 9 ? -98 : 0;
        },
      },
    };
  }

  async function start(host: UapiHost): Promise<{ dir: string; server: UapiServer }> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gw-uapi-'));
    const server = await UapiServer.listen('gwtest0', host, { dir });
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    cleanups.push(() => server.close());
    return { dir, server };
  }

  it('answers get, set and errors, several per connection, with a 0600 socket', async () => {
    const { host, sets } = scripted();
    const { server } = await start(host);
    expect(server.path.endsWith('gwtest0.sock')).toBe(true);
    expect(statSync(server.path).mode & 0o777).toBe(0o600);
    expect(await request(server.path, 'get=1\n\n')).toBe('listen_port=1234\nerrno=0\n\n');
    const three = await request(server.path, `set=1\nlisten_port=5\n\nset=1\nlisten_port=9\n\nset=1\nbogus=1\n\n`, 3);
    expect(three).toBe('errno=0\n\nerrno=-98\n\nerrno=-22\n\n');
    expect(sets.map((s) => s.listenPort)).toEqual([5, 9]);
    expect(await request(server.path, 'frobnicate=1\n\n')).toBe('errno=-22\n\n');
    // A request split across writes is reassembled.
    const c = net.connect(server.path);
    const reply = new Promise<string>((r) => c.once('data', (d) => r(d.toString())));
    c.write('ge');
    await new Promise((r) => setTimeout(r, 20));
    c.write('t=1\n\n');
    expect(await reply).toBe('listen_port=1234\nerrno=0\n\n');
    c.destroy();
  });

  it('refuses a socket that another live server holds, replaces a stale one', async () => {
    const { dir, server } = await start(scripted().host);
    await expect(UapiServer.listen('gwtest0', scripted().host, { dir })).rejects.toThrow(/in use/);
    await server.close();
    // Leave a stale socket file behind (a crashed process): a plain listener closed without unlinking.
    const stale = path.join(dir, 'gwtest1.sock');
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(stale, () => r()));
    // Duplicate the inode name so close() cannot remove ours: simplest is to close and recreate a file node.
    await new Promise<void>((r) => s.close(() => r()));
    if (!existsSync(stale)) writeFileSync(stale, ''); // not a socket: must not be touched as stale
    const again = await UapiServer.listen('gwtest2', scripted().host, { dir });
    await again.close();
    await expect(UapiServer.listen('bad/name', scripted().host, { dir })).rejects.toThrow(/invalid interface name/);
  });
});

const wgReady = isRoot() && haveCommand('wg');
if (!wgReady) console.warn('uapi-server.test: real `wg` test skipped (needs root and wireguard-tools)');

describe.skipIf(!wgReady)('UapiServer with a Device and the real wg tool', () => {
  it('wg show / wg set / wg show dump round-trip', async () => {
    const ifname = `gwu${process.pid % 100000}`;
    const priv = generatePrivateKey();
    const bind = await DgramUdpBind.open({ port: 0 });
    const device = new Device({ privateKey: priv, tun: new FakePacketDevice(ifname), bind });
    device.start();
    let current = priv;
    const server = await UapiServer.listen(ifname, deviceUapiHost(device, { privateKey: () => current, onPrivateKey: (k) => (current = k) }));
    cleanups.push(() => device.close());
    cleanups.push(() => server.close());
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gw-uapi-wg-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));

    const peerPub = publicKeyFromPrivate(generatePrivateKey());
    const psk = generatePresharedKey();
    writeFileSync(path.join(dir, 'psk'), keyToBase64(psk) + '\n');
    // Asynchronous on purpose: the server answering `wg` runs on this process's event loop.
    const run = promisify(execFile);
    const wg = async (...args: string[]): Promise<string> => (await run('wg', args, { encoding: 'utf8' })).stdout;

    await wg('set', ifname, 'peer', keyToBase64(peerPub), 'preshared-key', path.join(dir, 'psk'), 'endpoint', '192.0.2.9:51999',
      'persistent-keepalive', '25', 'allowed-ips', '198.51.100.0/24,2001:db8::/64');
    const peers = device.peers();
    expect(peers).toHaveLength(1);
    expect(keyToHex(peers[0].publicKey)).toBe(keyToHex(peerPub));
    expect(keyToHex(peers[0].presharedKey!)).toBe(keyToHex(psk));
    expect(peers[0].endpoint).toBe('192.0.2.9:51999');
    expect(peers[0].persistentKeepaliveSec).toBe(25);
    expect([...peers[0].allowedIPs].sort()).toEqual(['198.51.100.0/24', '2001:db8::/64']);

    const show = await wg('show', ifname);
    expect(show).toContain(`interface: ${ifname}`);
    expect(show).toContain(`public key: ${keyToBase64(publicKeyFromPrivate(priv))}`);
    expect(show).toContain(`listening port: ${bind.port}`);
    expect(show).toContain(`peer: ${keyToBase64(peerPub)}`);
    expect(show).toContain('preshared key: (hidden)');
    expect(show).toContain('endpoint: 192.0.2.9:51999');
    expect(show).toContain('persistent keepalive: every 25 seconds');

    const dump = (await wg('show', ifname, 'dump')).trim().split('\n');
    expect(dump[0].split('\t')).toEqual([keyToBase64(priv), keyToBase64(publicKeyFromPrivate(priv)), String(bind.port), 'off']);
    const row = dump[1].split('\t');
    expect(row[0]).toBe(keyToBase64(peerPub));
    expect(row[1]).toBe(keyToBase64(psk));
    expect(row[2]).toBe('192.0.2.9:51999');
    expect(row[4]).toBe('0'); // never handshaked

    // Remove an allowed IP by replacing the set, then the peer itself.
    await wg('set', ifname, 'peer', keyToBase64(peerPub), 'allowed-ips', '198.51.100.7/32');
    expect(device.peers()[0].allowedIPs).toEqual(['198.51.100.7/32']);
    await wg('set', ifname, 'peer', keyToBase64(peerPub), 'remove');
    expect(device.peers()).toEqual([]);
    // A listen-port change is refused (the device's bind is fixed); wg reports the errno.
    await expect(wg('set', ifname, 'listen-port', String(bind.port === 1 ? 2 : 1))).rejects.toThrow();
    const newKey = generatePrivateKey();
    writeFileSync(path.join(dir, 'key'), keyToBase64(newKey) + '\n');
    await wg('set', ifname, 'private-key', path.join(dir, 'key'));
    expect((await wg('show', ifname, 'public-key')).trim()).toBe(keyToBase64(publicKeyFromPrivate(newKey)));
  });
});
