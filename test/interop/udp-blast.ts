// Sends hostile UDP at a WireGuard port (run inside a namespace by the interop suite): seeded random
// datagrams shaped like each message type plus pure noise, then replays of captured datagrams (hex, one
// per line in a file). Exits when everything is sent; prints the counts as JSON.
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { seededRng } from '../../types/seeded-rng.js';

const [host, portText, randomText, replayFile, bindPortText] = process.argv.slice(2);
const port = Number(portText);
const r = seededRng(0x9e3779b9);
const rnd = (n: number): number => Math.floor(r() * n);
const sock = dgram.createSocket('udp4');
await new Promise<void>((r) => sock.bind(Number(bindPortText ?? 0), () => r()));
const send = (b: Uint8Array): Promise<void> => new Promise((r) => sock.send(b, port, host, () => r()));
const sizes = [148, 92, 64, 32, 48, 1452];
let random = 0;
for (let i = 0; i < Number(randomText); i++) {
  const kind = rnd(4);
  const len = kind === 0 ? rnd(1600) : sizes[rnd(sizes.length)] + (kind === 3 ? rnd(3) - 1 : 0);
  const b = new Uint8Array(Math.max(0, len));
  for (let j = 0; j < b.length; j++) b[j] = rnd(256);
  if (kind !== 0 && b.length >= 4) {
    b[0] = 1 + rnd(4);
    b[1] = b[2] = b[3] = 0;
  }
  await send(b);
  random++;
}
let replayed = 0;
if (replayFile) {
  for (const line of readFileSync(replayFile, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    await send(Buffer.from(line.trim(), 'hex'));
    replayed++;
  }
}
sock.close();
process.stdout.write(JSON.stringify({ random, replayed }) + '\n');
