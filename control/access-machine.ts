// The just-in-time access request as a state machine, and who may move it (issue 15). Pure: the store
// (access-requests.ts) reads rows, asks here, and writes the answer.
//
//   pending ──approve──► approved ──end (time is up)──► ended
//      │                     └────revoke──────────────► revoked
//      ├──deny────► denied
//      ├──cancel──► cancelled     (the requester changed their mind)
//      └──expire──► expired       (nobody decided within the pending window)
//
// Permissions: nobody approves or denies their own request, admins included; otherwise admins and the
// attribute's listed approvers (logins, or groups of the active policy) decide. The requester cancels their
// own pending request (admins may too); approved access is revoked by admins, the listed approvers, or the
// requester giving it up early. The host (a command run on the control machine without --as) is an admin.
import type { UserRole } from '../types/tailnet.js';

export const ACCESS_STATES = ['pending', 'approved', 'denied', 'cancelled', 'expired', 'ended', 'revoked'] as const;
export type AccessState = (typeof ACCESS_STATES)[number];
export type AccessEvent = 'approve' | 'deny' | 'cancel' | 'expire' | 'end' | 'revoke';

const TRANSITIONS: Record<AccessState, Partial<Record<AccessEvent, AccessState>>> = {
  pending: { approve: 'approved', deny: 'denied', cancel: 'cancelled', expire: 'expired' },
  approved: { end: 'ended', revoke: 'revoked' },
  denied: {},
  cancelled: {},
  expired: {},
  ended: {},
  revoked: {},
};

export function isAccessState(s: string): s is AccessState {
  return (ACCESS_STATES as readonly string[]).includes(s);
}

/** The state after `event`, or null when the event does not apply in `state`. */
export function nextState(state: AccessState, event: AccessEvent): AccessState | null {
  return TRANSITIONS[state][event] ?? null;
}

export interface AccessActor {
  /** Null: the control host itself (an admin command without --as). */
  login: string | null;
  role: UserRole;
  /** True when the actor is in the policy group `group`. */
  inGroup(group: string): boolean;
}

/** Null when `who` may fire `event` on a request of `requester` for an attribute approved by `approvers`; else why not. */
export function refusal(event: AccessEvent, who: AccessActor, requester: string, approvers: readonly string[]): string | null {
  const own = who.login === requester;
  const admin = who.role === 'admin';
  const listed = who.login !== null && approvers.some((a) => a === who.login || (a.startsWith('group:') && who.inGroup(a)));
  switch (event) {
    case 'approve':
    case 'deny':
      if (own) return `${who.login} cannot ${event} their own request`;
      if (admin || listed) return null;
      return `${who.login} is not an approver for this attribute (approvers: ${approvers.length > 0 ? approvers.join(', ') + ', ' : ''}admins)`;
    case 'cancel':
      return own || admin ? null : `only the requester (${requester}) or an admin can cancel a request`;
    case 'revoke':
      return own || admin || listed ? null : `only an admin, an approver or the requester can revoke access`;
    case 'expire':
    case 'end':
      return null;
  }
}
