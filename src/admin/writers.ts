/**
 * Who may write through the admin API with these settings and bindings, in one sentence for the
 * start-up log: an operator should learn from the first lines of the log whether anyone who
 * reaches the HTTP port can change the policies.
 */
import type { AccessRoleBinding } from '../policy/types.js';
import type { Settings } from '../settings/settings.js';
import {
  ADMIN_GROUP,
  ANONYMOUS_USER,
  builtinDefaultBinding,
  isBuiltin,
  mergeBuiltins,
  UNAUTHENTICATED_GROUP,
} from './builtins.js';

export type WritersSettings = Pick<
  Settings,
  'adminStateDir' | 'accessType' | 'adminDefaultBinding' | 'adminLocalhostIsAdmin' | 'tokenSigningKey'
> &
  Partial<Pick<Settings, 'store'>>;

export interface Writers {
  /** Names of the bindings through which an unauthenticated caller may write (worth a warning). */
  readonly openBindings: readonly string[];
  readonly text: string;
}

export function describeWriters(settings: WritersSettings, bindings: readonly AccessRoleBinding[]): Writers {
  if (settings.adminStateDir === undefined && settings.store === undefined)
    return { openBindings: [], text: 'admin writes are disabled (start with --admin-state-dir)' };
  const local = settings.adminLocalhostIsAdmin ? 'the localhost admin' : undefined;
  const tokens = settings.tokenSigningKey === undefined ? undefined : 'token holders';
  if (settings.accessType === 'static') {
    const who = listed([local, tokens && `${tokens} in group ${ADMIN_GROUP}`]);
    return {
      openBindings: [],
      text: `admin writes: only group ${ADMIN_GROUP} (--access-type static): ${who}`,
    };
  }
  const merged = mergeBuiltins([], bindings, builtinDefaultBinding(settings.adminDefaultBinding)).bindings;
  const openBindings = merged.filter(coversAnonymous).map((b) => b.name);
  const builtin = merged.find((b) => b.name === 'default' && isBuiltin(b));
  const base =
    builtin === undefined
      ? 'admin writes: as the AccessRoleBindings grant (binding default is redefined)'
      : `admin writes: authenticated callers (${listed([tokens, local])}) through the built-in binding default, and whoever other AccessRoleBindings name`;
  const text =
    openBindings.length === 0
      ? base
      : `${base}; UNAUTHENTICATED callers may write through binding ${openBindings.join(', ')}`;
  return { openBindings, text };
}

function coversAnonymous(binding: AccessRoleBinding): boolean {
  return binding.subjects.some(
    (s) =>
      (s.type === 'Group' && s.name === UNAUTHENTICATED_GROUP) ||
      (s.type === 'User' && s.name === ANONYMOUS_USER),
  );
}

function listed(who: readonly (string | undefined)[]): string {
  const named = who.filter((w) => w !== undefined);
  return named.length === 0
    ? 'nobody can authenticate: no --token-signing-key, no localhost admin'
    : named.join(', ');
}
