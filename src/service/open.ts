/**
 * How a start-up fails (an exit code and a message already explained), and the files the flags
 * name that are opened once, before the policies: the signing key, the revocation list, the
 * admin state directory.
 */
import { RevocationList } from '../admin/revocations.js';
import { AdminStore } from '../admin/store.js';
import { loadSigningKey, type SigningKey, SigningKeyError } from '../admin/tokens.js';
import { type Logger } from '../observability/log.js';
import type { Settings } from '../settings/settings.js';

export const EXIT_INVALID_POLICIES = 1;
export const EXIT_USAGE = 2;

/** Why start() failed: an exit code and the lines already explained to the user. */
export class StartError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** `--token-signing-key`, read once at start-up; an unusable key is bad usage (exit 2). */
export async function openSigningKey(settings: Settings): Promise<SigningKey | undefined> {
  if (settings.tokenSigningKey === undefined) return undefined;
  try {
    return await loadSigningKey(settings.tokenSigningKey);
  } catch (error) {
    if (error instanceof SigningKeyError) throw new StartError(EXIT_USAGE, error.message);
    throw error;
  }
}

/** `--token-revocation-list`, read once now and again on changes; an unreadable file is bad usage (exit 2). */
export async function openRevocationList(
  settings: Settings,
  log: Logger,
): Promise<RevocationList | undefined> {
  if (settings.tokenRevocationList === undefined) return undefined;
  try {
    return await RevocationList.open(settings.tokenRevocationList, log, {
      resyncIntervalMs: settings.resyncIntervalMs,
      stabilityWindowMs: settings.reloadStabilityWindowMs,
    });
  } catch (error) {
    throw new StartError(
      EXIT_USAGE,
      `cannot read --token-revocation-list ${settings.tokenRevocationList}: ${(error as Error).message}`,
    );
  }
}

/**
 * `--admin-state-dir`: created if needed, proved writable and cleaned of a crash's temp files
 * before the first load; a directory that cannot hold files is bad usage (exit 2).
 */
export async function openAdminStore(settings: Settings): Promise<AdminStore | undefined> {
  if (settings.adminStateDir === undefined) return undefined;
  try {
    return await AdminStore.open(settings.adminStateDir);
  } catch (error) {
    throw new StartError(
      EXIT_USAGE,
      `cannot open --admin-state-dir ${settings.adminStateDir}: ${(error as Error).message}`,
    );
  }
}
