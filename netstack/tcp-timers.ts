// The timers of a TCP connection (see tcp-connection.ts): one host timer per connection, armed at the
// earliest of the RTO, delayed-ACK, persist, keepalive, connect and TIME_WAIT deadlines; fire() runs what
// is due, onRto() the retransmission timeout with backoff (RFC 6298 §5).
import { ConnectionError } from '../types/errors.js';
import { TCP_ACK } from '../packet/headers.js';
import { tcpOptionsOffset } from './tcp-segment.js';
import { writeTcpOptions } from './tcp-options.js';
import { seqAdd, seqDiff } from './tcp-seq.js';
import { TcpSackRecovery } from './tcp-sack-recovery.js';
import { earliest, DATA_RETRIES, KEEPALIVE_INTERVAL_MS, KEEPALIVE_PROBES, SYN_RETRIES_PASSIVE } from './tcp-connection-base.js';

export abstract class TcpTimers extends TcpSackRecovery {
  protected armTimer(): void {
    if (this.isClosed()) return;
    let at = earliest(0, this.rtoAt);
    at = earliest(at, this.delackAt);
    at = earliest(at, this.persistAt);
    at = earliest(at, this.keepaliveAt);
    at = earliest(at, this.timeWaitAt);
    at = earliest(at, this.connectDeadline);
    if (at === 0) return;
    if (this.timer !== null && this.timerAt <= at) return;
    if (this.timer !== null) this.host.clock.clearTimer(this.timer);
    this.timerAt = at;
    this.timer = this.host.clock.setTimer(this.onTimer, at - this.now());
  }

  protected fire(): void {
    this.timer = null;
    if (this.isClosed()) return;
    const now = this.now();
    if (this.timeWaitAt !== 0 && now >= this.timeWaitAt) return this.toClosed(null);
    if (this.connectDeadline !== 0 && now >= this.connectDeadline && (this.state === 'SYN_SENT' || this.state === 'SYN_RECEIVED')) {
      return this.toClosed(new ConnectionError('ETIMEDOUT', `connect to ${this.remoteLabel()} timed out`));
    }
    if (this.delackAt !== 0 && now >= this.delackAt) this.sendAck();
    if (this.rtoAt !== 0 && now >= this.rtoAt) {
      this.onRto(now);
      if (this.isClosed()) return;
    }
    if (this.persistAt !== 0 && now >= this.persistAt) {
      this.persistAt = 0;
      if (this.sndWnd === 0 && this.sendBuf.length > 0) {
        // zero-window probe: an ACK one byte before the window elicits the peer's current window
        const tx = this.host.tx;
        const optLen = this.tsOn ? writeTcpOptions(tx, tcpOptionsOffset(this.family), 0, -1, true, this.tsNow(), this.tsRecent) : 0;
        this.emit(seqAdd(this.sndUna, -1), TCP_ACK, optLen, 0);
        this.persistShift++;
        this.startPersist();
      } else {
        this.forceSend = true;
        this.pump();
        this.forceSend = false;
      }
    }
    if (this.keepaliveAt !== 0 && now >= this.keepaliveAt) {
      if (this.keepProbes >= KEEPALIVE_PROBES) return this.toClosed(new ConnectionError('ETIMEDOUT', `keepalive to ${this.remoteLabel()} timed out`));
      if (this.sndMax === this.sndUna) {
        this.keepProbes++;
        this.emit(seqAdd(this.sndUna, -1), TCP_ACK, 0, 0);
      }
      this.keepaliveAt = now + KEEPALIVE_INTERVAL_MS;
    }
    this.armTimer();
  }

  protected onRto(now: number): void {
    this.timeouts++;
    this.retries++;
    this.rtt.backoff();
    this.rttStart = -1;
    if (this.state === 'SYN_SENT' || this.state === 'SYN_RECEIVED') {
      if (this.state === 'SYN_RECEIVED' && this.retries > SYN_RETRIES_PASSIVE && this.user === null) return this.toClosed(null);
      this.retransmits++;
      this.host.counters.tcpRetransmits++;
      this.sendSyn(this.state === 'SYN_RECEIVED');
      this.rtoAt = now + this.rtt.rto;
      return;
    }
    if (this.retries > DATA_RETRIES) {
      this.sendRst(this.sndNxt);
      return this.toClosed(new ConnectionError('ETIMEDOUT', `connection to ${this.remoteLabel()} timed out (no ACK after ${DATA_RETRIES} retransmissions)`));
    }
    if (this.sndMax === this.sndUna) {
      this.rtoAt = 0;
      return;
    }
    this.cc.onTimeout(seqDiff(this.sndMax, this.sndUna), this.sndMax);
    // RFC 2018 §8 / RFC 6675 §5.1: the peer may have reneged on what it SACKed; start from scratch
    this.sb.clear();
    this.sndNxt = this.sndUna; // go back N: resend from the first unacknowledged byte
    this.rtoAt = now + this.rtt.rto;
    this.pump();
    if (this.sndNxt === this.sndUna && this.sendBuf.length > 0) {
      // the peer's window is closed: retransmit one segment anyway (it probes the window)
      this.retransmitFirst();
    }
  }

}
