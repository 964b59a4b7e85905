#!/usr/bin/env node
/**
 * mtp-authz serve | validate | explain — the command line of SPEC §4.
 * Exit codes: 0 success, 1 invalid policies (or a failed serve), 2 bad usage.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { clientFromCertificate } from './authz/certificate.js';
import { clientFromUris, makeDestination, NO_CLIENT, parseTagList } from './decision/identity.js';
import { looksLikeUri } from './decision/san.js';
import type { Client } from './decision/types.js';
import { formatIssue } from './policy/errors.js';
import { explain, explainJson, explainText } from './decision/explain.js';
import { compilePolicySet } from './policy/compile.js';
import { loadPolicies } from './policy/load.js';
import { DEFAULT_MESH, SERVICE_TAG } from './policy/types.js';

const USAGE = `Usage: mtp-authz <command> [flags]

Commands:
  serve      run the ext_authz gRPC service (see mtp-authz serve --help)
  validate   PATH...  check policy files; one line per violation
  explain    decide one request offline and say why
             --policies PATH (repeatable) --destination-mesh M --destination-tag k=v (repeatable)
             [--client-san URI (repeatable) | --client-cert FILE] [--sni NAME] [--output text|json]
  convert    --to rules FILE...  print spec.rules equivalents of spec.from policies
  token      issue a user token for the admin API
             --name NAME [--group G]... [--valid-for DURATION] --token-signing-key FILE

Every command takes --help; mtp-authz --version prints the version.
`;

const EXPLAIN_USAGE = `Usage: mtp-authz explain --policies PATH [--destination-mesh M] --destination-tag k=v...
                         [--client-san URI... | --client-cert FILE] [--output text|json]

Decides one request offline against the policies and says why.
  --policies PATH          policy file or directory; repeatable
  --destination-mesh M     the destination's mesh (default ${DEFAULT_MESH})
  --destination-tag k=v    an inbound tag, no spaces; repeatable; must include ${SERVICE_TAG}
  --client-san URI         a URI SAN of the client's certificate; repeatable
  --client-cert FILE       the client's PEM certificate instead of --client-san
                           (neither: a plaintext client)
  --output text|json       text (default) or the JSON answer of POST /explain
Exit codes: 0 whatever the decision, 1 invalid policies, 2 bad usage.
`;

class UsageError extends Error {}

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve': {
        const { serve } = await import('./commands/serve.js');
        await serve([...rest], process.env);
        return 0;
      }
      case 'validate':
        return await (await import('./commands/validate.js')).validateCommand(rest);
      case 'explain':
        return await explainCommand(rest);
      case 'convert': {
        const { convertCommand, ConvertUsageError } = await import('./commands/convert.js');
        try {
          return await convertCommand(rest);
        } catch (error) {
          if (error instanceof ConvertUsageError) throw new UsageError(error.message);
          throw error;
        }
      }
      case 'token':
        return await (await import('./commands/token.js')).tokenCommand(rest, process.env);
      case '--version':
      case 'version':
        process.stdout.write(`mtp-authz ${packageVersion()}\n`);
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof UsageError || isParseArgsError(error)) {
      process.stderr.write(`mtp-authz: ${(error as Error).message}\n\n${USAGE}`);
      return 2;
    }
    throw error;
  }
}

/** The version of package.json, one directory above src/ and dist/ alike. */
function packageVersion(): string {
  const json = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version?: unknown;
  };
  return typeof json.version === 'string' ? json.version : 'unknown';
}

function isParseArgsError(error: unknown): boolean {
  return error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS');
}

async function explainCommand(args: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      policies: { type: 'string', multiple: true, default: [] },
      'destination-mesh': { type: 'string', default: DEFAULT_MESH },
      'destination-tag': { type: 'string', multiple: true, default: [] },
      'client-san': { type: 'string', multiple: true, default: [] },
      'client-cert': { type: 'string' },
      sni: { type: 'string' },
      output: { type: 'string', default: 'text' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    process.stdout.write(EXPLAIN_USAGE);
    return 0;
  }
  if (values.policies.length === 0) throw new UsageError('explain needs --policies PATH');
  if (values.output !== 'text' && values.output !== 'json') {
    throw new UsageError(`--output must be text or json, not "${values.output}"`);
  }
  if (values['client-san'].length > 0 && values['client-cert'] !== undefined) {
    throw new UsageError('give the client as --client-san or --client-cert, not both');
  }
  const tags = new Map<string, string>();
  for (const pair of values['destination-tag']) {
    if (/\s/.test(pair))
      throw new UsageError(`--destination-tag "${pair}" has spaces: write ${pair.replace(/\s+/g, '')}`);
    const parsed = parseTagList(pair);
    if (parsed === undefined || parsed.size !== 1)
      throw new UsageError(`--destination-tag must read k=v, not "${pair}"`);
    for (const [k, v] of parsed) tags.set(k, v);
  }
  if (!tags.has(SERVICE_TAG)) throw new UsageError(`--destination-tag must include ${SERVICE_TAG}=NAME`);
  const client = readClient(values['client-san'], values['client-cert']);

  const result = await loadPolicies(values.policies);
  if (!result.ok) {
    for (const error of result.errors) process.stderr.write(`${formatIssue(error)}\n`);
    return 1;
  }
  const table = compilePolicySet(result.set);
  const explanation = explain(table, makeDestination(values['destination-mesh'], tags, values.sni), client);
  process.stdout.write(
    values.output === 'json'
      ? `${JSON.stringify(explainJson(explanation.decision, explanation.rules))}\n`
      : explainText(explanation),
  );
  return 0;
}

function readClient(sans: readonly string[], certFile: string | undefined): Client {
  if (certFile !== undefined) {
    let pem: string;
    try {
      pem = readFileSync(certFile, 'utf8');
    } catch (error) {
      throw new UsageError(`cannot read --client-cert ${certFile}: ${(error as NodeJS.ErrnoException).code}`);
    }
    // The same path as a certificate Envoy forwards: URL-encoded PEM.
    return clientFromCertificate(encodeURIComponent(pem));
  }
  for (const san of sans) {
    if (!looksLikeUri(san)) {
      throw new UsageError(
        `--client-san must be a URI such as spiffe://MESH/SERVICE or kuma://KEY/VALUE, not "${san}"`,
      );
    }
  }
  // The `serve` default of --max-certificate-sans applies: the answer a Check would get.
  return sans.length === 0 ? NO_CLIENT : clientFromUris(sans);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `mtp-authz: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
