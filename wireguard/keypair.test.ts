// Keypair rotation (current / previous / next) and what gets dropped, as in wireguard-go.
import { describe, expect, it } from 'vitest';
import { Keypair, Keypairs } from './keypair.js';
import { TransportCrypto } from './transport.js';

let idx = 0;
const kp = (isInitiator: boolean): Keypair =>
  new Keypair({ sendKey: new Uint8Array(32).fill(1), recvKey: new Uint8Array(32).fill(2), isInitiator, localIndex: ++idx, remoteIndex: 1000 + idx }, 0, new TransportCrypto());

describe('Keypairs', () => {
  it('initiator: new → current, old current → previous, old previous dropped', () => {
    const dropped: number[] = [];
    const k = new Keypairs((x) => dropped.push(x.localIndex));
    const a = kp(true);
    const b = kp(true);
    const c = kp(true);
    k.install(a);
    k.install(b);
    expect([k.current, k.previous, k.next]).toEqual([b, a, null]);
    k.install(c);
    expect([k.current, k.previous, k.next]).toEqual([c, b, null]);
    expect(dropped).toEqual([a.localIndex]);
  });

  it('responder: new → next (not used to send); first packet on it promotes it', () => {
    const dropped: number[] = [];
    const k = new Keypairs((x) => dropped.push(x.localIndex));
    const a = kp(true);
    k.install(a);
    const r = kp(false);
    k.install(r);
    expect([k.current, k.previous, k.next]).toEqual([a, null, r]);
    expect(k.receivedWith(a)).toBe(false);
    expect(k.receivedWith(r)).toBe(true);
    expect([k.current, k.previous, k.next]).toEqual([r, a, null]);
    expect(k.receivedWith(r)).toBe(false);
    expect(dropped).toEqual([]);
  });

  it('responder twice before confirmation: the older next is dropped; previous is dropped on install', () => {
    const dropped: number[] = [];
    const k = new Keypairs((x) => dropped.push(x.localIndex));
    const a = kp(true);
    const b = kp(true);
    k.install(a);
    k.install(b); // current b, previous a
    const r1 = kp(false);
    const r2 = kp(false);
    k.install(r1);
    expect(dropped).toEqual([a.localIndex]);
    k.install(r2);
    expect([k.current, k.previous, k.next]).toEqual([b, null, r2]);
    expect(dropped).toEqual([a.localIndex, r1.localIndex]);
  });

  it('initiator with an unconfirmed next: next becomes previous, current is dropped (wireguard-go)', () => {
    const dropped: number[] = [];
    const k = new Keypairs((x) => dropped.push(x.localIndex));
    const a = kp(true);
    k.install(a);
    const r = kp(false);
    k.install(r);
    const c = kp(true);
    k.install(c);
    expect([k.current, k.previous, k.next]).toEqual([c, r, null]);
    expect(dropped).toEqual([a.localIndex]);
    k.clear();
    expect([k.current, k.previous, k.next]).toEqual([null, null, null]);
    expect(dropped.sort()).toEqual([a.localIndex, r.localIndex, c.localIndex].sort());
  });

  it('keypair send/receive limits by age and counter', () => {
    const a = kp(true);
    expect(a.canSend(179_999)).toBe(true);
    expect(a.canSend(180_000)).toBe(false);
    expect(a.canReceive(180_000)).toBe(false);
    a.sendNonce = 2 ** 64;
    expect(a.canSend(0)).toBe(false);
  });
});
