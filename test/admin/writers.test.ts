/** The start-up line that says who may write through the admin API. */
import { describe, expect, it } from 'vitest';
import { describeWriters, type WritersSettings } from '../../src/admin/writers.js';
import { parseStoreUrl } from '../../src/store/dsn.js';
import { binding, group, RESTRICTED_DEFAULT } from './rbac-builders.js';

const WRITES: WritersSettings = {
  adminStateDir: '/var/lib/mtp-authz',
  accessType: 'rbac',
  adminDefaultBinding: 'authenticated',
  adminLocalhostIsAdmin: true,
  tokenSigningKey: '/etc/mtp-authz/key.pem',
};

describe('describeWriters', () => {
  it('writes disabled', () => {
    expect(describeWriters({ ...WRITES, adminStateDir: undefined }, [])).toEqual({
      openBindings: [],
      text: 'admin writes are disabled (start with --admin-state-dir)',
    });
  });

  it('writes enabled by the shared store as by the state directory', () => {
    const store = parseStoreUrl('postgres://app@db/policies');
    expect(describeWriters({ ...WRITES, adminStateDir: undefined, store }, []).text).toBe(
      describeWriters(WRITES, []).text,
    );
  });

  it('the secure default: authenticated callers only', () => {
    expect(describeWriters(WRITES, [])).toEqual({
      openBindings: [],
      text: 'admin writes: authenticated callers (token holders, the localhost admin) through the built-in binding default, and whoever other AccessRoleBindings name',
    });
    expect(
      describeWriters({ ...WRITES, tokenSigningKey: undefined, adminLocalhostIsAdmin: false }, []).text,
    ).toBe(
      'admin writes: authenticated callers (nobody can authenticate: no --token-signing-key, no localhost admin) through the built-in binding default, and whoever other AccessRoleBindings name',
    );
  });

  it("Kong Mesh's default names the open binding", () => {
    expect(describeWriters({ ...WRITES, adminDefaultBinding: 'kong-mesh' }, [])).toEqual({
      openBindings: ['default'],
      text: 'admin writes: authenticated callers (token holders, the localhost admin) through the built-in binding default, and whoever other AccessRoleBindings name; UNAUTHENTICATED callers may write through binding default',
    });
  });

  it('a redefined default, and an operator binding that covers unauthenticated callers', () => {
    expect(describeWriters({ ...WRITES, adminDefaultBinding: 'kong-mesh' }, [RESTRICTED_DEFAULT])).toEqual({
      openBindings: [],
      text: 'admin writes: as the AccessRoleBindings grant (binding default is redefined)',
    });
    const open = binding('everyone', [group('mesh-system:unauthenticated')], ['admin']);
    expect(describeWriters(WRITES, [open]).openBindings).toEqual(['everyone']);
  });

  it('static access', () => {
    expect(describeWriters({ ...WRITES, accessType: 'static' }, []).text).toBe(
      'admin writes: only group mesh-system:admin (--access-type static): the localhost admin, token holders in group mesh-system:admin',
    );
  });
});
