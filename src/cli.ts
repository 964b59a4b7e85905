#!/usr/bin/env node
/**
 * mtp-authz serve | validate | explain — the command line of SPEC §4.
 * Exit codes: 0 success, 1 invalid policies (or a failed serve), 2 bad usage.
 */
import { readFileSync } from 'node:fs';

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

class UsageError extends Error {}

/** Runs a command whose own usage errors (instances of `commandUsage`) are bad usage here. */
async function usageOf<T>(commandUsage: new (message: string) => Error, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof commandUsage) throw new UsageError(error.message);
    throw error;
  }
}

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
      case 'explain': {
        const { explainCommand, ExplainUsageError } = await import('./commands/explain.js');
        return await usageOf(ExplainUsageError, () => explainCommand(rest));
      }
      case 'convert': {
        const { convertCommand, ConvertUsageError } = await import('./commands/convert.js');
        return await usageOf(ConvertUsageError, () => convertCommand(rest));
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
