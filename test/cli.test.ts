/** `mtp-authz validate` and `explain` as an operator runs them: separate processes, real files. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeWorkloadCert } from './support/certs.js';
import { ensureBuilt, REPO } from './support/server.js';

const EXAMPLES = join(REPO, 'examples/policies');

function cli(...args: string[]) {
  const run = spawnSync(process.execPath, [join(REPO, 'dist/cli.js'), ...args], {
    encoding: 'utf8',
    cwd: REPO,
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

function explainJson(...args: string[]) {
  const run = cli('explain', '--policies', EXAMPLES, '--output', 'json', ...args);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout);
}

beforeAll(() => ensureBuilt());

describe('mtp-authz validate', () => {
  it('accepts the example policies', () => {
    const run = cli('validate', EXAMPLES);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toBe(
      'valid: 4 MeshTrafficPermission, 0 Mesh, 0 AccessRole, 0 AccessRoleBinding in 4 file(s)\n',
    );
  });

  it('prints one line per violation, FILE:LINE:COL: PATH: MESSAGE, and exits 1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtp-cli-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      [
        'type: MeshTrafficPermission',
        'name: bad',
        'spec:',
        '  targetRef:',
        '    kind: MeshService',
        '  from:',
        '    - targetRef:',
        '        kind: Mesh',
        '        name: x',
        '      default:',
        '        action: Deny',
        '',
      ].join('\n'),
    );
    const run = cli('validate', dir);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(
      `${file}:5:5: spec.targetRef.name: must be set with kind MeshService\n` +
        `${file}:9:9: spec.from[0].targetRef.name: using name with kind Mesh is not yet supported\n`,
    );
  });

  it('needs a path', () => {
    const run = cli('validate');
    expect(run.code).toBe(2);
    expect(run.stderr.split('\n')[0]).toBe('mtp-authz: validate needs at least one PATH');
  });
});

describe('mtp-authz explain', () => {
  it('payments allows orders (deny-all overridden by the more specific allow-orders)', () => {
    expect(
      explainJson(
        '--destination-tag',
        'kuma.io/service=payments',
        '--destination-tag',
        'app=payments',
        '--client-san',
        'spiffe://default/orders',
      ),
    ).toEqual({
      action: 'Allow',
      via: 'rule',
      decidedBy: { policy: 'allow-orders', fromIndex: 0 },
      policies: ['deny-all', 'allow-orders'],
    });
  });

  it('a client carrying both zone us-east and env dev is denied by the later entry', () => {
    expect(
      explainJson(
        '--destination-mesh',
        'zones',
        '--destination-tag',
        'kuma.io/service=backend',
        '--client-san',
        'spiffe://zones/web',
        '--client-san',
        'kuma://kuma.io/zone/us-east',
        '--client-san',
        'kuma://env/dev',
      ),
    ).toEqual({
      action: 'Deny',
      via: 'rule',
      decidedBy: { policy: 'example-with-tags', fromIndex: 1 },
      policies: ['example-with-tags'],
    });
  });

  it('a plaintext client of a STRICT mesh has no identity', () => {
    expect(explainJson('--destination-tag', 'kuma.io/service=payments')).toEqual({
      action: 'Deny',
      via: 'no-identity',
      decidedBy: null,
      policies: [],
    });
  });

  it('reads the client from a PEM certificate file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtp-cli-'));
    const certFile = join(dir, 'client.pem');
    writeFileSync(certFile, makeWorkloadCert({ uris: ['spiffe://open/reports', 'kuma://env/prod'] }).pem);
    expect(
      explainJson(
        '--destination-mesh',
        'open',
        '--destination-tag',
        'kuma.io/service=postgres',
        '--client-cert',
        certFile,
      ),
    ).toEqual({
      action: 'Allow',
      via: 'rule',
      decidedBy: { policy: 'allow-all', fromIndex: 0 },
      policies: ['allow-all'],
    });
  });

  describe('a client that presented a certificate is never plaintext', () => {
    const permissive = (): string => {
      const dir = mkdtempSync(join(tmpdir(), 'mtp-cli-'));
      writeFileSync(
        join(dir, 'perm.yaml'),
        [
          'type: Mesh',
          'name: perm',
          'mtls: {enabledBackend: ca, backends: [{name: ca, type: builtin, mode: PERMISSIVE}]}',
          '',
        ].join('\n'),
      );
      return dir;
    };
    const expected = [
      'Decision:    Deny (invalid-identity: the client presented no valid workload identity (see Client))',
      'Destination: mesh perm, kuma.io/service=backend',
      'Client:      (invalid: no URI SAN is a valid SPIFFE ID (spiffe://<trust-domain>/<path>))',
      'Mesh mTLS:   permissive',
      '',
      'Decided by:  nothing (no entry applied)',
      '',
    ].join('\n');
    const explainPerm = (dir: string, ...client: string[]) =>
      cli(
        'explain',
        '--policies',
        dir,
        '--destination-mesh',
        'perm',
        '--destination-tag',
        'kuma.io/service=backend',
        ...client,
      );

    it('plaintext is only a client without certificate or SANs', () => {
      const run = explainPerm(permissive());
      expect(run.code).toBe(0);
      expect(run.stdout.split('\n')[0]).toBe(
        'Decision:    Allow (permissive-plaintext: mTLS is PERMISSIVE and the client sent no certificate)',
      );
    });

    it('a certificate without a SPIFFE ID is an invalid identity', () => {
      const dir = permissive();
      const certFile = join(dir, 'client.pem');
      writeFileSync(certFile, makeWorkloadCert({ uris: ['kuma://env/prod'], dnsNames: ['web.local'] }).pem);
      const run = explainPerm(dir, '--client-cert', certFile);
      expect(run).toEqual({ code: 0, stdout: expected, stderr: '' });
    });

    it('SANs without a valid SPIFFE ID are an invalid identity', () => {
      const run = explainPerm(
        permissive(),
        '--client-san',
        'kuma://env/prod',
        '--client-san',
        'SPIFFE://perm/web',
      );
      expect(run).toEqual({ code: 0, stdout: expected, stderr: '' });
    });
  });

  it('a certificate of another mesh is a mesh mismatch', () => {
    expect(
      explainJson('--destination-tag', 'kuma.io/service=payments', '--client-san', 'spiffe://zones/orders'),
    ).toMatchObject({ action: 'Deny', via: 'mesh-mismatch', decidedBy: null });
  });

  it('explains in text: ordered policies, the joined from list and the deciding entry', () => {
    const run = cli(
      'explain',
      '--policies',
      EXAMPLES,
      '--destination-tag',
      'kuma.io/service=payments',
      '--destination-tag',
      'app=payments',
      '--client-san',
      'spiffe://default/billing',
    );
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      [
        'Decision:    Deny (rule: decided by a from entry)',
        'Destination: mesh default, kuma.io/service=payments, app=payments',
        'Client:      mesh default, kuma.io/service=billing',
        'Mesh mTLS:   strict',
        '',
        'Selected policies (least specific first; a later entry overrides an earlier one):',
        '  1. deny-all',
        '  2. allow-orders',
        '',
        'Joined from list:',
        '    1. deny-all[0]      Deny                every client (Mesh)  <- decided',
        '    2. allow-orders[0]  Allow               kuma.io/service=orders',
        '',
        'Decided by:  deny-all from[0]',
        '',
      ].join('\n'),
    );
  });

  it.each([
    [['--destination-tag', 'app=payments'], 'mtp-authz: --destination-tag must include kuma.io/service=NAME'],
    [
      ['--destination-tag', 'kuma.io/service'],
      'mtp-authz: --destination-tag must read k=v, not "kuma.io/service"',
    ],
    [
      ['--destination-tag', 'kuma.io/service=a', '--output', 'yaml'],
      'mtp-authz: --output must be text or json, not "yaml"',
    ],
    [
      [
        '--destination-tag',
        'kuma.io/service=a',
        '--client-san',
        'spiffe://default/a',
        '--client-cert',
        'x.pem',
      ],
      'mtp-authz: give the client as --client-san or --client-cert, not both',
    ],
    [
      ['--destination-tag', 'kuma.io/service=a', '--client-san', 'orders'],
      'mtp-authz: --client-san must be a URI such as spiffe://MESH/SERVICE or kuma://KEY/VALUE, not "orders"',
    ],
    [
      ['--destination-tag', 'kuma.io/service=a', '--client-cert', '/nonexistent.pem'],
      'mtp-authz: cannot read --client-cert /nonexistent.pem: ENOENT',
    ],
  ])('bad usage %j exits 2', (args, message) => {
    const run = cli('explain', '--policies', EXAMPLES, ...args);
    expect(run.code).toBe(2);
    expect(run.stderr.split('\n')[0]).toBe(message);
  });

  it('invalid policies exit 1 with the violations', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtp-cli-'));
    writeFileSync(join(dir, 'p.yaml'), 'type: MeshTrafficPermission\nname: p\nspec:\n  from: []\n');
    const run = cli('explain', '--policies', dir, '--destination-tag', 'kuma.io/service=a');
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`${join(dir, 'p.yaml')}:4:9: spec.from: needs at least one item\n`);
  });

  it('an unknown command exits 2', () => {
    const run = cli('frobnicate');
    expect(run.code).toBe(2);
    expect(run.stderr.split('\n')[0]).toBe('mtp-authz: unknown command "frobnicate"');
  });
});

describe('mtp-authz explain with spec.rules', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mtp-cli-rules-'));
  writeFileSync(
    join(dir, 'policies.yaml'),
    `type: MeshTrafficPermission
name: allow-all-from
spec:
  from:
    - targetRef: {kind: Mesh}
      default: {action: Allow}
---
type: MeshTrafficPermission
name: backend-rules
spec:
  targetRef: {kind: MeshService, name: backend}
  rules:
    - default:
        deny:
          - spiffeID: {type: Exact, value: "spiffe://default/orders"}
        allow:
          - spiffeID: {type: Prefix, value: "spiffe://default"}
          - sni: {type: Exact, value: backend.mesh}
`,
  );
  const run = (...args: string[]) =>
    cli('explain', '--policies', dir, '--destination-tag', 'kuma.io/service=backend', ...args);

  it('names the deciding rule and match, and the from policies the rules policy made ignored', () => {
    const json = run('--client-san', 'spiffe://default/orders', '--output', 'json');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({
      action: 'Deny',
      via: 'rule',
      decidedBy: { policy: 'backend-rules', ruleIndex: 0 },
      policies: ['backend-rules'],
      match: { list: 'deny', index: 0, spiffeID: { type: 'Exact', value: 'spiffe://default/orders' } },
      ignoredPolicies: {
        policies: ['allow-all-from'],
        reason: 'from-policies ignored: rules policy backend-rules selects this inbound',
      },
    });
  });

  it('reads --sni for sni matches, and says no-matching-rule when nothing matches', () => {
    const other = JSON.parse(run('--client-san', 'spiffe://other/web', '--output', 'json').stdout);
    expect(other).toMatchObject({ action: 'Deny', via: 'no-matching-rule', decidedBy: null });
    const bySni = JSON.parse(
      run('--client-san', 'spiffe://other/web', '--sni', 'backend.mesh', '--output', 'json').stdout,
    );
    expect(bySni.decidedBy).toEqual({ policy: 'backend-rules', ruleIndex: 0 });
    expect(bySni.match).toMatchObject({ list: 'allow', index: 1 });
  });

  it('explains in text: the rules policies, the ignored ones and why, every match in precedence order', () => {
    const text = run('--client-san', 'spiffe://default/web');
    expect(text.stdout).toBe(
      [
        'Decision:    Allow (rule: decided by a rule)',
        'Destination: mesh default, kuma.io/service=backend',
        'Client:      mesh default, kuma.io/service=web',
        'Mesh mTLS:   strict',
        'Client SANs: "spiffe://default/web" (what spiffeID matches read)',
        '',
        'Selected rules policies (least specific first):',
        '  1. backend-rules',
        '',
        'Ignored (from-policies ignored: rules policy backend-rules selects this inbound):',
        '  - allow-all-from',
        '',
        'Matches (any deny wins, then allowWithShadowDeny, then allow):',
        '    1. backend-rules rules[0].deny[0]   Deny                spiffeID Exact spiffe://default/orders',
        '    2. backend-rules rules[0].allow[0]  Allow               spiffeID Prefix spiffe://default  <- decided',
        '    3. backend-rules rules[0].allow[1]  Allow               sni Exact backend.mesh',
        '',
        'Decided by:  backend-rules rules[0].allow[0]',
        '',
      ].join('\n'),
    );
  });
});

describe('mtp-authz convert --to rules', () => {
  it('prints the rules equivalents that load and validate, and exits 0 when everything converted', () => {
    const run = cli('convert', '--to', 'rules', join(EXAMPLES, 'default'));
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toContain('# kept as it is: deny-all: it denies every client');
    expect(run.stdout).toContain(
      '  rules:\n    - default:\n        allow:\n          - spiffeID:\n              type: Exact\n              value: spiffe://default/orders\n',
    );
    const dir = mkdtempSync(join(tmpdir(), 'mtp-cli-convert-'));
    writeFileSync(join(dir, 'converted.yaml'), run.stdout);
    expect(cli('validate', dir)).toMatchObject({ code: 0, stderr: '' });
  });

  it('says where there is no exact translation and exits 1; needs --to rules', () => {
    const run = cli('convert', '--to', 'rules', join(EXAMPLES, 'zones'));
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      '# not converted: example-with-tags from[0]: a tag-based MeshSubset has no SPIFFE-ID equivalent (SPIFFE IDs carry no tags)',
    );
    expect(cli('convert', join(EXAMPLES, 'zones'))).toMatchObject({ code: 2 });
    expect(cli('convert', '--to', 'rules').stderr).toContain('convert needs at least one FILE');
  });
});

describe('help, version and usage errors', () => {
  it('--version prints the package version', () => {
    const { version } = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
    expect(cli('--version')).toEqual({ code: 0, stdout: `mtp-authz ${version}\n`, stderr: '' });
  });

  it('every command answers --help on stdout with exit 0', () => {
    const starts: Record<string, string> = {
      serve: 'Usage: mtp-authz serve [flags]',
      validate: 'Usage: mtp-authz validate PATH...',
      explain: 'Usage: mtp-authz explain --policies PATH',
      token: 'Usage: mtp-authz token --name NAME',
    };
    for (const [command, start] of Object.entries(starts)) {
      const run = cli(command, '--help');
      expect(run.code, command).toBe(0);
      expect(run.stderr, command).toBe('');
      expect(run.stdout.startsWith(start), `${command}: ${run.stdout}`).toBe(true);
    }
    expect(cli('--help').stdout).toContain(
      'Every command takes --help; mtp-authz --version prints the version.',
    );
  });

  it('validate --policies DIR says that validate takes paths', () => {
    const run = cli('validate', '--policies', 'examples/policies');
    expect(run.code).toBe(2);
    expect(run.stderr.split('\n')[0]).toBe(
      'mtp-authz: validate takes paths, not --policies: mtp-authz validate examples/policies',
    );
  });

  it('a --destination-tag with spaces names them', () => {
    const run = cli('explain', '--policies', EXAMPLES, '--destination-tag', 'kuma.io/service = payments');
    expect(run.code).toBe(2);
    expect(run.stderr.split('\n')[0]).toBe(
      'mtp-authz: --destination-tag "kuma.io/service = payments" has spaces: write kuma.io/service=payments',
    );
  });
});

describe('validate: ConfigMap manifests and files without an extension', () => {
  it('checks the data keys of the deployed ConfigMap', () => {
    const run = cli('validate', 'deploy/kubernetes/configmap.yaml');
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(/^valid: [1-9]\d* MeshTrafficPermission, .* in [1-9]\d* file\(s\)\n$/);
  });

  it('reports a bad data key at its line in the manifest, and warns of a key a mount skips', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtp-cli-'));
    const file = join(dir, 'cm.yaml');
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: ConfigMap',
        'metadata: {name: policies}',
        'data:',
        '  bad.yaml: |',
        '    type: MeshTrafficPermission',
        '    name: bad',
        '    spec:',
        '      from:',
        '      - targetRef: {kind: Mesh}',
        '        default: {action: allow}',
        '  notes: hello',
        '',
      ].join('\n'),
    );
    const run = cli('validate', file);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `warning: ${file}:12:3: file: data key "notes" is skipped: mounted, only names ending in .yaml, .yml or .json are read\n` +
        `${file}:11:27: spec.from[0].default.action: in body should be one of [Allow Deny AllowWithShadowDeny]\n`,
    );
  });

  it('a manifest mixing a ConfigMap with another kind is an error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtp-cli-'));
    const file = join(dir, 'mixed.yaml');
    writeFileSync(file, 'kind: ConfigMap\ndata: {}\n---\nkind: Deployment\n');
    const run = cli('validate', file);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`${file}:4:1: file: a ConfigMap manifest holds only ConfigMap documents\n`);
  });

  it('a directory scan warns of a file without an extension instead of skipping it silently', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtp-cli-'));
    writeFileSync(join(dir, 'policies'), 'type: MeshTrafficPermission\nname: x\nspec: {from: []}\n');
    writeFileSync(join(dir, 'notes.md'), 'not a policy');
    const run = cli('validate', dir);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe(
      `warning: ${join(dir, 'policies')}:1:1: file: skipped: a policy file name ends in .yaml, .yml or .json (a ConfigMap key without one is not read)\n`,
    );
    expect(run.stdout).toBe(
      'valid: 0 MeshTrafficPermission, 0 Mesh, 0 AccessRole, 0 AccessRoleBinding in 0 file(s)\n',
    );
  });
});
