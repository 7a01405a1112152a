// The access-request state machine and its permissions, as tables.
import { describe, expect, it } from 'vitest';
import { ACCESS_STATES, nextState, refusal, type AccessActor, type AccessEvent, type AccessState } from './access-machine.js';

const EVENTS: AccessEvent[] = ['approve', 'deny', 'cancel', 'expire', 'end', 'revoke'];
const ALLOWED: Record<string, AccessState> = {
  'pending approve': 'approved',
  'pending deny': 'denied',
  'pending cancel': 'cancelled',
  'pending expire': 'expired',
  'approved end': 'ended',
  'approved revoke': 'revoked',
};

describe('transitions', () => {
  const rows = ACCESS_STATES.flatMap((state) => EVENTS.map((event) => ({ state, event, want: ALLOWED[`${state} ${event}`] ?? null })));
  it.each(rows)('$state --$event--> $want', ({ state, event, want }) => {
    expect(nextState(state, event)).toBe(want);
  });
});

const actor = (login: string | null, role: 'admin' | 'member' = 'member', groups: string[] = []): AccessActor => ({ login, role, inGroup: (g) => groups.includes(g) });
const REQUESTER = 'alice@example.com';

describe('who may act', () => {
  it.each([
    // approve / deny
    { name: 'a member not listed cannot approve', event: 'approve', who: actor('carol@example.com'), approvers: ['bob@example.com'], ok: false },
    { name: 'a listed member approves', event: 'approve', who: actor('bob@example.com'), approvers: ['bob@example.com'], ok: true },
    { name: 'a member of a listed group approves', event: 'approve', who: actor('dave@example.com', 'member', ['group:sre']), approvers: ['group:sre'], ok: true },
    { name: 'a member of another group cannot approve', event: 'approve', who: actor('dave@example.com', 'member', ['group:dev']), approvers: ['group:sre'], ok: false },
    { name: 'an admin approves without being listed', event: 'approve', who: actor('root@example.com', 'admin'), approvers: ['bob@example.com'], ok: true },
    { name: 'nobody approves their own request (listed)', event: 'approve', who: actor(REQUESTER), approvers: [REQUESTER], ok: false },
    { name: 'nobody approves their own request (admin)', event: 'approve', who: actor(REQUESTER, 'admin'), approvers: [], ok: false },
    { name: 'nobody denies their own request', event: 'deny', who: actor(REQUESTER, 'admin'), approvers: [], ok: false },
    { name: 'a member not listed cannot deny', event: 'deny', who: actor('carol@example.com'), approvers: [], ok: false },
    { name: 'the host approves', event: 'approve', who: actor(null, 'admin'), approvers: [], ok: true },
    // cancel
    { name: 'the requester cancels', event: 'cancel', who: actor(REQUESTER), approvers: [], ok: true },
    { name: 'an approver cannot cancel', event: 'cancel', who: actor('bob@example.com'), approvers: ['bob@example.com'], ok: false },
    { name: 'an admin cancels', event: 'cancel', who: actor('root@example.com', 'admin'), approvers: [], ok: true },
    // revoke
    { name: 'the requester gives access up', event: 'revoke', who: actor(REQUESTER), approvers: [], ok: true },
    { name: 'a listed approver revokes', event: 'revoke', who: actor('bob@example.com'), approvers: ['bob@example.com'], ok: true },
    { name: 'an unrelated member cannot revoke', event: 'revoke', who: actor('carol@example.com'), approvers: ['bob@example.com'], ok: false },
    { name: 'the host revokes', event: 'revoke', who: actor(null, 'admin'), approvers: [], ok: true },
  ] as const)('$name', ({ event, who, approvers, ok }) => {
    const r = refusal(event, who, REQUESTER, approvers);
    if (ok) expect(r).toBeNull();
    else expect(r).toMatch(/cannot|not an approver|only/);
  });
});
