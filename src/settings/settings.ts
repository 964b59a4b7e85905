/**
 * Every `serve` flag, read once into one typed, validated, frozen Settings object (the flags
 * themselves are the rows of flags.ts). Flags win over env.
 */
import { FLAGS, type FlagSpec, type Settings } from './flags.js';
import { BadValue } from './values.js';

export {
  ACCESS_TYPES,
  ADMIN_DEFAULT_BINDINGS,
  type AccessType,
  type AdminDefaultBinding,
  FLAGS,
  type FlagSpec,
  type Settings,
} from './flags.js';

const BY_FLAG: ReadonlyMap<string, FlagSpec> = new Map(FLAGS.map((s) => [s.flag, s]));

// ---------------------------------------------------------------------------------------------
// Reading argv + env

export type SettingsResult =
  | { readonly kind: 'settings'; readonly settings: Settings }
  | { readonly kind: 'help'; readonly text: string }
  | { readonly kind: 'error'; readonly message: string };

type Raw = Map<FlagSpec, string[]>;

function readArgv(argv: readonly string[]): Raw | 'help' {
  const raw: Raw = new Map();
  const set = (s: FlagSpec, value: string): void => {
    if (s.kind === 'list') raw.set(s, [...(raw.get(s) ?? []), value]);
    else raw.set(s, [value]);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h') return 'help';
    if (!arg.startsWith('--') || arg === '--') throw new BadValue(`unexpected argument "${arg}"`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const inline = eq < 0 ? undefined : arg.slice(eq + 1);
    const s = BY_FLAG.get(name);
    if (s === undefined) {
      const negated = name.startsWith('no-') ? BY_FLAG.get(name.slice(3)) : undefined;
      if (negated?.kind === 'boolean' && inline === undefined) {
        set(negated, 'false');
        continue;
      }
      throw new BadValue(`unknown flag --${name}`);
    }
    if (s.kind === 'boolean') {
      set(s, inline ?? 'true');
      continue;
    }
    if (inline !== undefined) {
      set(s, inline);
      continue;
    }
    const next = argv[i + 1];
    if (next === undefined) throw new BadValue(`flag --${name} needs a value`);
    set(s, next);
    i++;
  }
  return raw;
}

function parseTexts(s: FlagSpec, texts: readonly string[], source: string): unknown {
  try {
    return s.kind === 'list' ? texts.map((t) => s.parse(t)) : s.parse(texts[texts.length - 1] as string);
  } catch (error) {
    if (error instanceof BadValue) throw new BadValue(`${source}: ${error.message}`);
    throw error;
  }
}

function crossCheck(settings: Settings): void {
  if ((settings.grpcTlsCert === undefined) !== (settings.grpcTlsKey === undefined)) {
    throw new BadValue('--grpc-tls-cert and --grpc-tls-key must be given together');
  }
  if (settings.grpcTlsClientCa !== undefined && settings.grpcTlsCert === undefined) {
    throw new BadValue('--grpc-tls-client-ca needs --grpc-tls-cert and --grpc-tls-key');
  }
  if (settings.httpHeadersTimeoutMs > settings.httpRequestTimeoutMs) {
    throw new BadValue('--http-headers-timeout must not be longer than --http-request-timeout');
  }
  if (settings.maxTokenLifetimeMs < 1000) throw new BadValue('--max-token-lifetime must be at least 1s');
  if (settings.store !== undefined && settings.adminStateDir !== undefined)
    throw new BadValue(
      '--store and --admin-state-dir cannot be used together: the admin API keeps its resources in one place',
    );
  if (settings.storePasswordFile !== undefined && settings.store === undefined)
    throw new BadValue('--store-password-file needs --store');
  if (
    settings.policies.length === 0 &&
    settings.adminStateDir === undefined &&
    settings.store === undefined
  ) {
    throw new BadValue('no policies: give --policies PATH (or --admin-state-dir DIR)');
  }
}

/** Reads the serve flags from argv, then env for every flag argv did not give. */
export function readSettings(argv: readonly string[], env: NodeJS.ProcessEnv): SettingsResult {
  try {
    const raw = readArgv(argv);
    if (raw === 'help') return { kind: 'help', text: settingsHelp() };
    const values: Record<string, unknown> = {};
    for (const s of FLAGS) {
      const fromArgv = raw.get(s);
      const fromEnv = env[s.env];
      if (fromArgv !== undefined) values[s.key] = parseTexts(s, fromArgv, `--${s.flag}`);
      else if (fromEnv !== undefined && fromEnv !== '') {
        const texts = s.kind === 'list' ? fromEnv.split(',').filter((t) => t !== '') : [fromEnv];
        values[s.key] = parseTexts(s, texts, s.env);
      } else if (s.defaultText !== undefined) values[s.key] = parseTexts(s, [s.defaultText], `--${s.flag}`);
      else values[s.key] = s.kind === 'list' ? [] : undefined;
    }
    const settings = values as unknown as Settings;
    crossCheck(settings);
    Object.freeze(settings.policies);
    return { kind: 'settings', settings: Object.freeze(settings) };
  } catch (error) {
    if (error instanceof BadValue) return { kind: 'error', message: error.message };
    throw error;
  }
}

function flagLabel(s: FlagSpec): string {
  if (s.kind === 'boolean') return `--[no-]${s.flag}`;
  return `--${s.flag} ${s.key === 'policies' ? 'PATH' : 'VALUE'}`;
}

/** The `serve --help` screen. */
export function settingsHelp(): string {
  const lines = ['Usage: mtp-authz serve [flags]', '', 'Flags (env form in brackets; flags win over env):'];
  for (const s of FLAGS) {
    const def = s.defaultText === undefined ? '' : ` (default ${s.defaultText})`;
    lines.push(`  ${flagLabel(s)}  [${s.env}]`, `      ${s.help}${def}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The README's flag table, in Markdown. */
export function settingsMarkdownTable(): string {
  const rows = FLAGS.map(
    (s) =>
      `| \`--${s.flag}\` | \`${s.env}\` | ${s.defaultText === undefined ? '—' : `\`${s.defaultText}\``} | ${s.help} |`,
  );
  return ['| flag | env | default | meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}
