// Diagnostic collection for the policy engine: every problem found in one pass is recorded with its
// position (1-based line and column, in UTF-16 code units as editors count them) and a stable code.
// The parser never stops at the first error and never throws on user input.
import type { Diagnostic } from '../types/errors.js';

/** Stable diagnostic codes (policy.md, "Errors we must produce"). */
export const ERR = {
  SYNTAX: 'ERR_POLICY_SYNTAX',
  TYPE: 'ERR_POLICY_TYPE',
  UNKNOWN_KEY: 'ERR_POLICY_UNKNOWN_KEY',
  DUPLICATE_KEY: 'ERR_POLICY_DUPLICATE_KEY',
  UNKNOWN_GROUP: 'ERR_POLICY_UNKNOWN_GROUP',
  UNKNOWN_TAG: 'ERR_POLICY_UNKNOWN_TAG',
  UNKNOWN_HOST: 'ERR_POLICY_UNKNOWN_HOST',
  UNKNOWN_IPSET: 'ERR_POLICY_UNKNOWN_IPSET',
  UNKNOWN_POSTURE: 'ERR_POLICY_UNKNOWN_POSTURE',
  UNKNOWN_AUTOGROUP: 'ERR_POLICY_UNKNOWN_AUTOGROUP',
  BAD_NAME: 'ERR_POLICY_BAD_NAME',
  BAD_SELECTOR: 'ERR_POLICY_BAD_SELECTOR',
  NESTED_GROUP: 'ERR_POLICY_NESTED_GROUP',
  BAD_CIDR: 'ERR_POLICY_BAD_CIDR',
  BAD_PORT: 'ERR_POLICY_BAD_PORT',
  BAD_PROTO: 'ERR_POLICY_BAD_PROTO',
  EMPTY_GRANT: 'ERR_POLICY_EMPTY_GRANT',
  BAD_CAP_NAME: 'ERR_POLICY_BAD_CAP_NAME',
  BAD_CAP_VALUE: 'ERR_POLICY_BAD_CAP_VALUE',
  BAD_SELF: 'ERR_POLICY_BAD_SELF',
  BAD_VIA: 'ERR_POLICY_BAD_VIA',
  BAD_DST: 'ERR_POLICY_BAD_DST',
  BAD_ACTION: 'ERR_POLICY_BAD_ACTION',
  BAD_POSTURE: 'ERR_POLICY_BAD_POSTURE',
  IPSET_CYCLE: 'ERR_POLICY_IPSET_CYCLE',
  BAD_SSH: 'ERR_POLICY_BAD_SSH',
  BAD_TEST: 'ERR_POLICY_BAD_TEST',
  TEST_FAILED: 'ERR_POLICY_TEST_FAILED',
  UNKNOWN_NODE: 'ERR_POLICY_UNKNOWN_NODE',
  BAD_TAILNET: 'ERR_TAILNET_INVALID',
} as const;

export type ErrCode = (typeof ERR)[keyof typeof ERR];

/** Maps offsets to 1-based line/column by binary search over line starts (built once per text). */
export class LineIndex {
  private readonly starts: number[];
  constructor(text: string) {
    const starts = [0];
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 10) starts.push(i + 1);
      else if (c === 13 && text.charCodeAt(i + 1) !== 10) starts.push(i + 1);
    }
    this.starts = starts;
  }

  position(offset: number): { line: number; col: number } {
    const s = this.starts;
    let lo = 0;
    let hi = s.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (s[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: offset - s[lo] + 1 };
  }
}

/** A source position carried by model items so later stages (tests, compile) can point back. */
export interface Pos {
  line: number;
  col: number;
}

/** Collects diagnostics for one file. */
export class DiagSink {
  readonly diagnostics: Diagnostic[] = [];
  readonly lines: LineIndex;
  constructor(
    readonly file: string,
    text: string,
  ) {
    this.lines = new LineIndex(text);
  }

  pos(offset: number): Pos {
    return this.lines.position(offset);
  }

  at(offset: number, code: ErrCode, message: string): void {
    const { line, col } = this.lines.position(offset);
    this.diagnostics.push({ file: this.file, line, col, message, code });
  }

  atPos(pos: Pos, code: ErrCode, message: string): void {
    this.diagnostics.push({ file: this.file, line: pos.line, col: pos.col, message, code });
  }

  get count(): number {
    return this.diagnostics.length;
  }
}

/** Orders diagnostics by position, then message, so output is stable whatever order checks ran in. */
export function sortDiagnostics(ds: Diagnostic[]): Diagnostic[] {
  return ds.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) || a.line - b.line || a.col - b.col || (a.message < b.message ? -1 : a.message > b.message ? 1 : 0));
}
