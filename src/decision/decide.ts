/**
 * decide(): one request → one Decision, exactly as Kuma's generated Envoy RBAC would answer.
 * Pure and synchronous: no I/O, no parsing, no exceptions on the way.
 */
import { evaluateAtoms } from './multi-valued.js';
import { decideRules } from './rules.js';
import type { CompiledEntry, DecisionTable, InboundProgram } from './table.js';
import type { Client, ClientIdentity, DecidedBy, Decision, Destination, Via } from './types.js';

const EMPTY: readonly string[] = Object.freeze([]);

function answer(action: Decision['action'], via: Via, policies: readonly string[] = EMPTY): Decision {
  return { action, via, decidedBy: null, policies };
}

const NO_DESTINATION = Object.freeze(answer('Deny', 'no-destination'));
const MTLS_DISABLED = Object.freeze(answer('Allow', 'mtls-disabled'));
const PERMISSIVE_PLAINTEXT = Object.freeze(answer('Allow', 'permissive-plaintext'));
const NO_IDENTITY = Object.freeze(answer('Deny', 'no-identity'));
const INVALID_IDENTITY = Object.freeze(answer('Deny', 'invalid-identity'));
const MESH_MISMATCH = Object.freeze(answer('Deny', 'mesh-mismatch'));
const NO_POLICY = Object.freeze(answer('Deny', 'no-policy'));

export function decide(table: DecisionTable, destination: Destination | undefined, client: Client): Decision {
  if (destination === undefined) return NO_DESTINATION;
  const mtls = table.mtlsOf(destination.mesh);
  if (mtls === 'disabled') return MTLS_DISABLED;
  if (client.kind === 'invalid') return INVALID_IDENTITY;
  if (client.kind === 'none') return mtls === 'permissive' ? PERMISSIVE_PLAINTEXT : NO_IDENTITY;
  const identity = client.identity;
  const program = table.program(destination);
  // Rules policies authorize by SPIFFE ID alone: no trust-domain-equals-mesh check (SPEC §2.6).
  if (program.rules !== undefined) return decideRules(program.rules, identity, destination);
  if (identity.mesh !== destination.mesh) return MESH_MISMATCH;

  if (program.entries.length === 0) return program.policies.length === 0 ? NO_POLICY : noMatch(program);
  return identity.multiValued ? decideMultiValued(program, identity) : decideSingleValued(program, identity);
}

/** One value per tag key: the last entry whose tags the client all carries decides. */
function decideSingleValued(program: InboundProgram, identity: ClientIdentity): Decision {
  const tags = identity.tags;
  const entries = program.entries;
  outer: for (let i = entries.length - 1; i >= 0; i--) {
    const entry = entries[i] as CompiledEntry;
    for (let t = 0; t < entry.keys.length; t++) {
      const values = tags.get(entry.keys[t] as string);
      if (values === undefined || values[0] !== entry.values[t]) continue outer;
    }
    return ruled(entry, program);
  }
  return noMatch(program);
}

/**
 * Several values for a key (a proxy with several inbounds): Kuma's atoms. Allowed when any atom the
 * client's SANs satisfy carries Allow (or, failing that, AllowWithShadowDeny).
 */
function decideMultiValued(program: InboundProgram, identity: ClientIdentity): Decision {
  const verdict = evaluateAtoms(program, identity);
  if (verdict.tooAmbiguous) return INVALID_IDENTITY;
  const decider = verdict.allow ?? verdict.shadow ?? verdict.deny;
  return decider === undefined ? noMatch(program) : ruled(decider, program);
}

function ruled(entry: CompiledEntry, program: InboundProgram): Decision {
  program.decisions ??= new Map();
  let decision = program.decisions.get(entry);
  if (decision === undefined) {
    const decidedBy: DecidedBy = { policy: entry.policy, fromIndex: entry.fromIndex };
    decision = Object.freeze({ action: entry.action, via: 'rule', decidedBy, policies: program.policies });
    program.decisions.set(entry, decision);
  }
  return decision;
}

function noMatch(program: InboundProgram): Decision {
  program.noMatch ??= Object.freeze(answer('Deny', 'no-matching-from', program.policies));
  return program.noMatch;
}
