/**
 * decide(): one request → one Decision, exactly as Kuma's generated Envoy RBAC would answer.
 * Pure and synchronous: no I/O, no parsing, no exceptions on the way.
 */
import { type AtomIndex, buildAtomIndex } from './atom-index.js';
import { evaluateMultiValued } from './multi-valued.js';
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
  return identity.multiValued || !isSimple(program)
    ? decideByAtoms(program, identity)
    : decideSingleValued(program, identity);
}

/**
 * Whether a client with one value per key is decided by the last entry it covers. True unless some
 * entry can decide atoms of a component other than its own (see atom-index.ts). No index is needed
 * for the common shapes: a kind Mesh entry makes one component of everything, and entries of one
 * pair each on one key (a list of MeshService entries) are each their own component.
 */
function isSimple(program: InboundProgram): boolean {
  program.simple ??=
    hasMeshEntry(program.entries) || onePairOnOneKey(program.entries) || atomsOf(program).simple;
  return program.simple;
}

function hasMeshEntry(entries: readonly CompiledEntry[]): boolean {
  for (const entry of entries) if (entry.keys.length === 0) return true;
  return false;
}

function onePairOnOneKey(entries: readonly CompiledEntry[]): boolean {
  const key = entries[0]?.keys[0];
  for (const entry of entries) if (entry.keys.length !== 1 || entry.keys[0] !== key) return false;
  return true;
}

function atomsOf(program: InboundProgram): AtomIndex {
  program.atoms ??= buildAtomIndex(program.entries);
  return program.atoms;
}

/** One value per tag key, in a simple program: the last entry whose tags the client all carries decides. */
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
 * Kuma's atoms, for several values of a key (a proxy with several inbounds) or a program that is not
 * simple. Any AllowWithShadowDeny atom the SANs match makes it AllowWithShadowDeny (Envoy's shadow
 * rules are those atoms alone); else any Allow atom allows; else the last covering entry denies.
 */
function decideByAtoms(program: InboundProgram, identity: ClientIdentity): Decision {
  const outcome = evaluateMultiValued(atomsOf(program), identity);
  if (outcome.kind === 'entry') return ruled(outcome.entry, program);
  if (outcome.kind === 'no-match') return noMatch(program);
  program.tooComplex ??= Object.freeze(answer('Deny', 'identity-too-complex', program.policies));
  return program.tooComplex;
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
