/**
 * Where the image's HEALTHCHECK (src/healthcheck.ts) sends its probe: the HTTP listener as `serve`
 * reads it — `--http-address` among the arguments (flags win), else MTP_AUTHZ_HTTP_ADDRESS, else
 * the default. A wildcard listen address is probed on loopback.
 */
import { FLAGS } from './settings.js';
import { parseTcpAddress } from './values.js';

const DEFAULT_ADDRESS = FLAGS.find((s) => s.flag === 'http-address')?.defaultText ?? '0.0.0.0:9192';

/** Where to send the probe: a wildcard listen address is probed on loopback. */
export function healthcheckTarget(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): { host: string; port: number } | undefined {
  let address: string | undefined;
  args.forEach((arg, i) => {
    if (arg === '--http-address') address = args[i + 1] ?? address;
    else if (arg.startsWith('--http-address=')) address = arg.slice('--http-address='.length);
  });
  const text = address ?? (env.MTP_AUTHZ_HTTP_ADDRESS || DEFAULT_ADDRESS);
  let host: string;
  let port: number;
  try {
    ({ host, port } = parseTcpAddress(text));
  } catch {
    return undefined;
  }
  return { host: host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host, port };
}
