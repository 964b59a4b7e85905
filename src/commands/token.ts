/**
 * `mtp-authz token --name NAME [--group G]... [--valid-for DURATION] --token-signing-key FILE`
 * (SPEC §4): issues a user token offline and prints it alone on stdout. Each flag has its env form
 * (`MTP_AUTHZ_NAME`, `MTP_AUTHZ_GROUP` as a comma list, `MTP_AUTHZ_VALID_FOR`,
 * `MTP_AUTHZ_TOKEN_SIGNING_KEY`); flags win over env. Exit 0 on success, 2 for bad usage
 * (an unusable key file included), with one line on stderr.
 */
import { parseArgs } from 'node:util';
import {
  DEFAULT_MAX_TOKEN_LIFETIME_SECONDS,
  DEFAULT_VALID_FOR,
  formatSeconds,
  issueToken,
  lifetimeTooLong,
  loadSigningKey,
  parseDuration,
  SigningKeyError,
} from '../admin/tokens.js';

export const TOKEN_USAGE = `Usage: mtp-authz token --name NAME [--group G]... [--valid-for DURATION] [--max-token-lifetime DURATION] --token-signing-key FILE

Issues a user token for the admin API and prints it on stdout.
  --name NAME                 the user the token is for
  --group G                   a group of the user; repeatable, or a comma-separated list
  --valid-for DURATION        how long the token is valid: 30s, 15m, 24h, 1h30m (default ${DEFAULT_VALID_FOR})
  --max-token-lifetime DURATION  the longest --valid-for accepted (default ${formatSeconds(DEFAULT_MAX_TOKEN_LIFETIME_SECONDS)})
  --token-signing-key FILE    the key of the server's --token-signing-key
Env forms: MTP_AUTHZ_NAME, MTP_AUTHZ_GROUP, MTP_AUTHZ_VALID_FOR, MTP_AUTHZ_MAX_TOKEN_LIFETIME,
MTP_AUTHZ_TOKEN_SIGNING_KEY.
`;

const EXIT_USAGE = 2;

class UsageError extends Error {}

export async function tokenCommand(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  try {
    const values = readFlags(args);
    if (values === 'help') {
      process.stdout.write(TOKEN_USAGE);
      return 0;
    }
    const fromEnv = (name: string): string | undefined => {
      const value = env[`MTP_AUTHZ_${name}`];
      return value === '' ? undefined : value;
    };
    const name = values.name ?? fromEnv('NAME');
    if (name === undefined || name === '') throw new UsageError('--name NAME is required');
    const groupTexts = values.group ?? (fromEnv('GROUP') === undefined ? [] : [fromEnv('GROUP') as string]);
    const groups = groupTexts.flatMap((g) => g.split(',')).map((g) => g.trim());
    if (groups.some((g) => g === '')) throw new UsageError('--group must not be empty');
    const keyFile = values['token-signing-key'] ?? fromEnv('TOKEN_SIGNING_KEY');
    if (keyFile === undefined) throw new UsageError('--token-signing-key FILE is required');
    let validForSeconds: number;
    try {
      validForSeconds = parseDuration(values['valid-for'] ?? fromEnv('VALID_FOR') ?? DEFAULT_VALID_FOR);
    } catch (error) {
      throw new UsageError(`--valid-for: ${(error as Error).message}`);
    }
    let maxSeconds = DEFAULT_MAX_TOKEN_LIFETIME_SECONDS;
    const maxText = values['max-token-lifetime'] ?? fromEnv('MAX_TOKEN_LIFETIME');
    try {
      if (maxText !== undefined) maxSeconds = parseDuration(maxText);
    } catch (error) {
      throw new UsageError(`--max-token-lifetime: ${(error as Error).message}`);
    }
    const tooLong = lifetimeTooLong(validForSeconds, maxSeconds);
    if (tooLong !== undefined) throw new UsageError(`--valid-for: ${tooLong}`);
    let key: Awaited<ReturnType<typeof loadSigningKey>>;
    try {
      key = await loadSigningKey(keyFile);
    } catch (error) {
      if (error instanceof SigningKeyError) throw new UsageError(error.message);
      throw error;
    }
    process.stdout.write(`${await issueToken(key, { name, groups, validForSeconds })}\n`);
    return 0;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`mtp-authz token: ${error.message}\n`);
    return EXIT_USAGE;
  }
}

function readFlags(args: string[]) {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const [extra] = parsed.positionals;
  if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
  return parsed.values.help === true ? 'help' : parsed.values;
}

function parse(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      group: { type: 'string', multiple: true },
      'valid-for': { type: 'string' },
      'max-token-lifetime': { type: 'string' },
      'token-signing-key': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
