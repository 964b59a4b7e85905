/**
 * `mtp-authz explain`: decides one request offline against policy files and says why, as text or
 * as the JSON of POST /explain.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { clientFromCertificate } from '../authz/certificate.js';
import { explain, explainJson, explainText } from '../decision/explain.js';
import { clientFromUris, makeDestination, NO_CLIENT, parseTagList } from '../decision/identity.js';
import { looksLikeUri } from '../decision/san.js';
import type { Client } from '../decision/types.js';
import { compilePolicySet } from '../policy/compile.js';
import { formatIssue } from '../policy/errors.js';
import { loadPolicies } from '../policy/load.js';
import { DEFAULT_MESH, SERVICE_TAG } from '../policy/types.js';

/** Bad usage of `explain` (exit 2; the command line prints it with the usage). */
export class ExplainUsageError extends Error {}

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

export async function explainCommand(args: readonly string[]): Promise<number> {
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
  if (values.policies.length === 0) throw new ExplainUsageError('explain needs --policies PATH');
  if (values.output !== 'text' && values.output !== 'json') {
    throw new ExplainUsageError(`--output must be text or json, not "${values.output}"`);
  }
  if (values['client-san'].length > 0 && values['client-cert'] !== undefined) {
    throw new ExplainUsageError('give the client as --client-san or --client-cert, not both');
  }
  const tags = new Map<string, string>();
  for (const pair of values['destination-tag']) {
    if (/\s/.test(pair))
      throw new ExplainUsageError(
        `--destination-tag "${pair}" has spaces: write ${pair.replace(/\s+/g, '')}`,
      );
    const parsed = parseTagList(pair);
    if (parsed === undefined || parsed.size !== 1)
      throw new ExplainUsageError(`--destination-tag must read k=v, not "${pair}"`);
    for (const [k, v] of parsed) tags.set(k, v);
  }
  if (!tags.has(SERVICE_TAG))
    throw new ExplainUsageError(`--destination-tag must include ${SERVICE_TAG}=NAME`);
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
      throw new ExplainUsageError(
        `cannot read --client-cert ${certFile}: ${(error as NodeJS.ErrnoException).code}`,
      );
    }
    // The same path as a certificate Envoy forwards: URL-encoded PEM.
    return clientFromCertificate(encodeURIComponent(pem));
  }
  for (const san of sans) {
    if (!looksLikeUri(san)) {
      throw new ExplainUsageError(
        `--client-san must be a URI such as spiffe://MESH/SERVICE or kuma://KEY/VALUE, not "${san}"`,
      );
    }
  }
  // The `serve` default of --max-certificate-sans applies: the answer a Check would get.
  return sans.length === 0 ? NO_CLIENT : clientFromUris(sans);
}
