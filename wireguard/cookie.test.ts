// mac1/mac2, cookie replies and the per-source rate limiter.
import { describe, expect, it } from 'vitest';
import { writeU32LE } from './bytes.js';
import { INIT_OFF_MAC2, MESSAGE_COOKIE_REPLY_SIZE, MESSAGE_INITIATION_SIZE, MESSAGE_RESPONSE_SIZE } from './constants.js';
import { CookieChecker, CookieGenerator } from './cookie.js';
import { NodeCrypto } from '../crypto/backend.js';
import { generatePrivateKey, publicKeyFromPrivate } from '../crypto/key.js';
import { RateLimiter } from './rate-limiter.js';
import { toAddr16 } from '../net/endpoint.js';

const crypto = new NodeCrypto();
const responderPub = publicKeyFromPrivate(generatePrivateKey());
const SRC = toAddr16(Uint8Array.of(192, 0, 2, 1));
const SRC2 = toAddr16(Uint8Array.of(192, 0, 2, 99));

function initiation(seed = 1): Uint8Array {
  const m = new Uint8Array(MESSAGE_INITIATION_SIZE).fill(seed);
  writeU32LE(m, 0, 1);
  return m;
}

describe('mac1 / mac2 / cookie reply', () => {
  it('mac1 verifies only for the right responder key and unmodified bytes', () => {
    const gen = new CookieGenerator(crypto, responderPub);
    const chk = new CookieChecker(crypto, responderPub);
    const other = new CookieChecker(crypto, publicKeyFromPrivate(generatePrivateKey()));
    for (const size of [MESSAGE_INITIATION_SIZE, MESSAGE_RESPONSE_SIZE]) {
      const m = new Uint8Array(size).fill(7);
      gen.addMacs(m, 0);
      expect(chk.checkMAC1(m)).toBe(true);
      expect(other.checkMAC1(m)).toBe(false);
      m[10] ^= 1;
      expect(chk.checkMAC1(m)).toBe(false);
    }
  });

  it('without a cookie mac2 is zero and fails; after a reply it verifies for 120 s from that source only', () => {
    const gen = new CookieGenerator(crypto, responderPub);
    const chk = new CookieChecker(crypto, responderPub);
    const m = initiation();
    gen.addMacs(m, 0);
    expect([...m.subarray(INIT_OFF_MAC2)].every((b) => b === 0)).toBe(true);
    expect(chk.checkMAC2(m, SRC, 51820, 0)).toBe(false);
    const reply = chk.createReply(m, 0x1234, SRC, 51820, 0);
    expect(reply.length).toBe(MESSAGE_COOKIE_REPLY_SIZE);
    expect([reply[0], reply[4], reply[5]]).toEqual([3, 0x34, 0x12]);
    expect(gen.consumeReply(reply, 10)).toBe(true);
    expect(gen.consumeReply(reply, 11)).toBe(false); // one reply per message sent
    const m2 = initiation(2);
    gen.addMacs(m2, 1000);
    expect(chk.checkMAC1(m2)).toBe(true);
    expect(chk.checkMAC2(m2, SRC, 51820, 1000)).toBe(true);
    expect(chk.checkMAC2(m2, SRC, 51821, 1000)).toBe(false); // another port
    expect(chk.checkMAC2(m2, SRC2, 51820, 1000)).toBe(false); // another address
    // The generator stops using the cookie after COOKIE_REFRESH_TIME.
    const m3 = initiation(3);
    gen.addMacs(m3, 10 + 120_000);
    expect(chk.checkMAC2(m3, SRC, 51820, 1000)).toBe(false);
    // The checker's secret rotates after 120 s: an old cookie no longer verifies.
    expect(chk.checkMAC2(m2, SRC, 51820, 121_000)).toBe(false);
  });

  it('a cookie reply is bound to the mac1 it answers and to the responder key', () => {
    const gen = new CookieGenerator(crypto, responderPub);
    const chk = new CookieChecker(crypto, responderPub);
    const m = initiation();
    gen.addMacs(m, 0);
    const other = initiation(9);
    new CookieGenerator(crypto, responderPub).addMacs(other, 0);
    const replyToOther = chk.createReply(other, 1, SRC, 1, 0);
    expect(gen.consumeReply(replyToOther, 0)).toBe(false);
    const forged = new CookieChecker(crypto, publicKeyFromPrivate(generatePrivateKey())).createReply(m, 1, SRC, 1, 0);
    expect(gen.consumeReply(forged, 0)).toBe(false);
    const good = chk.createReply(m, 1, SRC, 1, 0);
    good[40] ^= 1;
    expect(gen.consumeReply(good, 0)).toBe(false);
    expect(new CookieGenerator(crypto, responderPub).consumeReply(chk.createReply(m, 1, SRC, 1, 0), 0)).toBe(false);
  });
});

describe('RateLimiter (20/s per source IP, burst 5)', () => {
  it('allows a burst of 5 then 20 per second, per source address', () => {
    const rl = new RateLimiter();
    const allowedAt = (t: number, src = SRC) => rl.allow(src, t);
    let n = 0;
    for (let i = 0; i < 10; i++) if (allowedAt(0)) n++;
    expect(n).toBe(5);
    expect(allowedAt(0, SRC2)).toBe(true); // another source has its own bucket
    // Over one second of steady flooding (every 5 ms), about 20 more get through.
    n = 0;
    for (let t = 5; t <= 1000; t += 5) if (allowedAt(t)) n++;
    expect(n).toBeGreaterThanOrEqual(19);
    expect(n).toBeLessThanOrEqual(21);
  });

  it('forgets idle sources', () => {
    const rl = new RateLimiter();
    rl.allow(SRC, 0);
    rl.allow(SRC2, 0);
    expect(rl.size).toBe(2);
    rl.allow(SRC, 5000);
    expect(rl.size).toBe(1);
  });
});
