/**
 * `spec.from` policies → equivalent `spec.rules` policies, where an exact translation exists.
 *
 * "Equivalent" is over the clients rules can tell apart: a certificate with one URI SAN,
 * `spiffe://<mesh>/<service>` (as MeshIdentity issues). Rules match the SANs joined with `,`, so a
 * classic Kuma certificate that also carries `kuma://` tag SANs matches no Exact value, and tag-based
 * subsets have no SPIFFE-ID equivalent at all. Each policy is translated from its own from list
 * (last covering entry wins) into the lists that give every client the same answer under rules'
 * precedence (deny, then allowWithShadowDeny, then allow); the set as a whole is then checked
 * inbound by inbound with the engine itself, because from lists join across policies while rules add
 * up. Nothing here is read on the hot path.
 */
import { decide } from '../decision/decide.js';
import { clientFromUris, makeDestination } from '../decision/identity.js';
import type { Action, MeshTrafficPermission, MtpRule, PolicySet, RuleMatch, TargetRef } from './types.js';
import { SERVICE_TAG } from './types.js';
import { compilePolicySet } from './compile.js';

export interface ConvertNote {
  readonly policy: string;
  /** `from[i]` when the note is about one entry. */
  readonly where?: string;
  readonly message: string;
}

export interface Conversion {
  /** From policies that need no translation and stay as they are (a deny-everything policy). */
  readonly kept: readonly ConvertNote[];
  /** The rules policies, one per converted from policy, same name, target and labels. */
  readonly converted: readonly MeshTrafficPermission[];
  /** Policies left as they are, each with the reason (per entry where there is one). */
  readonly notConverted: readonly ConvertNote[];
  /** Caveats of converted policies (a Prefix admitting similar trust domains). */
  readonly caveats: readonly ConvertNote[];
  /** Inbound × client pairs where the converted set answers otherwise than the from set. */
  readonly mismatches: readonly string[];
}

/** Candidate inbounds checked at most; beyond it the set check says it could not be completed. */
const MAX_INBOUNDS = 4096;
const OTHER_SERVICE = 'any-other-service';

export function convertToRules(set: PolicySet): Conversion {
  const converted: MeshTrafficPermission[] = [];
  const notConverted: ConvertNote[] = [];
  const caveats: ConvertNote[] = [];
  const kept: ConvertNote[] = [];
  for (const policy of set.policies) {
    if (policy.rules !== undefined) {
      notConverted.push({ policy: policy.name, message: 'already written with spec.rules' });
      continue;
    }
    const result = translate(policy);
    if ('kept' in result) kept.push(result.kept);
    else if ('problems' in result) notConverted.push(...result.problems);
    else {
      converted.push(result.policy);
      caveats.push(...result.caveats);
    }
  }
  const names = new Set(converted.map((p) => `${p.mesh}/${p.name}`));
  const after: PolicySet = {
    ...set,
    policies: [...set.policies.filter((p) => !names.has(`${p.mesh}/${p.name}`)), ...converted],
  };
  return { converted, kept, notConverted, caveats, mismatches: compareSets(set, after) };
}

type Translation =
  | { readonly policy: MeshTrafficPermission; readonly caveats: ConvertNote[] }
  | { readonly problems: ConvertNote[] }
  | { readonly kept: ConvertNote };

/** The service a from entry stands for; undefined for Mesh; an error text for what rules cannot say. */
function serviceOf(ref: TargetRef): string | undefined | { problem: string } {
  const tags = Object.entries(ref.tags ?? {});
  switch (ref.kind) {
    case 'Mesh':
      return undefined;
    case 'MeshService':
      return ref.name ?? '';
    case 'MeshServiceSubset':
      if (tags.length === 0) return ref.name ?? '';
      return {
        problem: 'a MeshServiceSubset with tags has no SPIFFE-ID equivalent (SPIFFE IDs carry no tags)',
      };
    case 'MeshSubset': {
      const only = tags.length === 1 ? tags[0] : undefined;
      if (only !== undefined && only[0] === SERVICE_TAG) return only[1];
      return { problem: 'a tag-based MeshSubset has no SPIFFE-ID equivalent (SPIFFE IDs carry no tags)' };
    }
    case 'Dataplane':
      return { problem: 'a Dataplane from entry is not valid' };
  }
}

function translate(policy: MeshTrafficPermission): Translation {
  const problems: ConvertNote[] = [];
  let other: Action | undefined; // the last Mesh entry: every client not named after it
  const byService = new Map<string, Action>();
  policy.from.forEach((entry, i) => {
    const service = serviceOf(entry.targetRef);
    if (typeof service === 'object') {
      problems.push({ policy: policy.name, where: `from[${i}]`, message: service.problem });
    } else if (service === undefined) {
      other = entry.action;
      // A later Mesh entry overrides every earlier named one: last covering entry wins.
      for (const name of byService.keys()) byService.set(name, entry.action);
    } else byService.set(service, entry.action);
  });
  if (problems.length > 0) return { problems };

  const lists: { deny: RuleMatch[]; allowWithShadowDeny: RuleMatch[]; allow: RuleMatch[] } = {
    deny: [],
    allowWithShadowDeny: [],
    allow: [],
  };
  const caveats: ConvertNote[] = [];
  const meshPrefix = `spiffe://${policy.mesh}`;
  if (other === 'Allow' || other === 'AllowWithShadowDeny') {
    (other === 'Allow' ? lists.allow : lists.allowWithShadowDeny).push({
      spiffeID: { type: 'Prefix', value: meshPrefix },
    });
    caveats.push({
      policy: policy.name,
      message: `"Prefix ${meshPrefix}" stands for the mesh's clients; as raw text it also admits trust domains that begin with "${policy.mesh}" (e.g. ${meshPrefix}.other), which the from policy denied`,
    });
  }
  for (const [service, action] of byService) {
    if (action === other) continue;
    const match: RuleMatch = { spiffeID: { type: 'Exact', value: `spiffe://${policy.mesh}/${service}` } };
    if (action === 'Deny') {
      if (other !== undefined) lists.deny.push(match); // with no Mesh entry, no match already denies
    } else if (action === 'AllowWithShadowDeny') lists.allowWithShadowDeny.push(match);
    else if (other === 'AllowWithShadowDeny') {
      return {
        problems: [
          {
            policy: policy.name,
            message: `clients of ${service} are allowed while every other client is allowed with a shadow deny: under rules an allowWithShadowDeny match always wins over an allow`,
          },
        ],
      };
    } else lists.allow.push(match);
  }
  const rules: MtpRule[] =
    lists.deny.length + lists.allowWithShadowDeny.length + lists.allow.length === 0 ? [] : [lists];
  if (rules.length === 0) {
    return {
      kept: {
        policy: policy.name,
        message:
          'it denies every client, which needs no rule: it keeps denying where no rules policy selects the inbound, and is ignored where one does',
      },
    };
  }
  const { from: _from, ...rest } = policy;
  return { policy: { ...rest, from: [], rules }, caveats };
}

/**
 * Decides every candidate inbound for every candidate client with both sets. Inbounds: the product
 * of the services and tag values the targets name (each also absent or different); clients: one
 * single-SAN identity per service named anywhere, plus one named nowhere.
 */
function compareSets(before: PolicySet, after: PolicySet): string[] {
  const fromTable = compilePolicySet(before);
  const rulesTable = compilePolicySet(after);
  const mismatches: string[] = [];
  for (const mesh of new Set(before.policies.map((p) => p.mesh))) {
    const policies = before.policies.filter((p) => p.mesh === mesh);
    const services = new Set<string>([OTHER_SERVICE]);
    const values = new Map<string, Set<string>>();
    const note = (key: string, value: string): void => {
      if (key === SERVICE_TAG) services.add(value);
      else {
        const known = values.get(key) ?? new Set(['', 'any-other-value']);
        known.add(value);
        values.set(key, known);
      }
    };
    for (const policy of policies) {
      const refs = [policy.targetRef, ...policy.from.map((e) => e.targetRef)];
      for (const ref of refs) {
        if (ref.kind === 'MeshService' || ref.kind === 'MeshServiceSubset') note(SERVICE_TAG, ref.name ?? '');
        for (const [k, v] of Object.entries({ ...(ref.tags ?? {}), ...(ref.labels ?? {}) })) note(k, v);
        if (ref.sectionName !== undefined) note('mtp.section-name', ref.sectionName);
      }
    }
    const inbounds = inboundsOf(mesh, [...services], values);
    if (inbounds === undefined) {
      mismatches.push(`mesh ${mesh}: too many tag combinations to check the converted set as a whole`);
      continue;
    }
    for (const inbound of inbounds) {
      for (const service of services) {
        const client = clientFromUris([`spiffe://${mesh}/${service}`]);
        const a = decide(fromTable, inbound, client);
        const b = decide(rulesTable, inbound, client);
        if (a.action === b.action) continue;
        const tags = [...inbound.tags].map(([k, v]) => `${k}=${v}`).join(',');
        mismatches.push(
          `mesh ${mesh}, inbound ${tags}, client spiffe://${mesh}/${service}: from answers ${a.action}, the converted set ${b.action}`,
        );
        if (mismatches.length >= 20) return mismatches;
      }
    }
  }
  return mismatches;
}

function inboundsOf(
  mesh: string,
  services: readonly string[],
  values: ReadonlyMap<string, ReadonlySet<string>>,
): ReturnType<typeof makeDestination>[] | undefined {
  let combos: Map<string, string>[] = services.map((s) => new Map([[SERVICE_TAG, s]]));
  for (const [key, options] of values) {
    if (combos.length * options.size > MAX_INBOUNDS) return undefined;
    combos = combos.flatMap((tags) =>
      [...options].map((value) => {
        const next = new Map(tags);
        if (value !== '') next.set(key, value);
        return next;
      }),
    );
  }
  return combos.map((tags) => makeDestination(mesh, tags));
}
