/**
 * What the admin routes and writes are built from: the serving state, whatever reloads it, the
 * store, the signing key and the caller checks of the HTTP port.
 */
import type { ServiceState } from '../authz/state.js';
import type { Logger } from '../observability/log.js';
import type { ReloadOutcome } from '../policy/reload.js';
import type { AccessRoleBinding } from '../policy/types.js';
import type { AuditLog } from './audit.js';
import type { AccessType } from './rbac.js';
import type { ResourceStore } from './resource-store.js';
import type { SigningKey } from './tokens.js';
import type { AuthenticationOptions } from './users.js';

export interface AdminContext {
  readonly state: ServiceState;
  /** Read-your-writes: resolves once a load that started after the call has finished. */
  readonly reloader: { reload(reason: string): Promise<ReloadOutcome> };
  /** Undefined without `--admin-state-dir` or `--store`: writes answer 501. */
  readonly store?: ResourceStore;
  /** Undefined without `--token-signing-key`: `POST /tokens/user` answers 501. */
  readonly signingKey?: SigningKey;
  readonly authentication: AuthenticationOptions;
  readonly accessType: AccessType;
  /** The built-in `default` binding (`--admin-default-binding`); authenticated callers if absent. */
  readonly defaultBinding?: AccessRoleBinding;
  readonly audit: AuditLog;
  readonly log?: Logger;
  /** Told of every answered admin request (`mtp_authz_admin_requests_total{method,code}`). */
  readonly onRequest?: (method: string, code: number) => void;
  /** Largest request body; 1 MiB by default. */
  readonly maxBodyBytes?: number;
  /** `--max-token-lifetime` in seconds: longer `validFor` answers 400 (default 24h). */
  readonly maxTokenLifetimeSeconds?: number;
}
