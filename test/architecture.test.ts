/**
 * The lanes of src/, kept by a test: which folder may import which is part of the design (README,
 * "Architecture"), and the hot path's rule — nothing a Check reaches reads files, parses YAML or
 * knows policy documents — holds only while something checks it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cycles, importGraph, reachable } from './support/import-graph.js';

const SRC = join(import.meta.dirname, '../src');
const graph = importGraph(SRC);

/** "file:line imports target" for every edge of `graph` that `forbidden` picks. */
function offending(
  modules: Iterable<string>,
  forbidden: (to: string, from: string) => boolean,
  runtimeOnly = false,
): string[] {
  const found: string[] = [];
  for (const from of modules) {
    for (const edge of graph.get(from) ?? []) {
      if (runtimeOnly && !edge.runtime) continue;
      if (forbidden(edge.to, from)) found.push(`${from}:${edge.line} imports ${edge.to}`);
    }
  }
  return found;
}

describe('the import graph of src/', () => {
  it('is read: the Check handler and its imports are found', () => {
    expect(graph.has('authz/check.ts')).toBe(true);
    expect(reachable(graph, 'authz/check.ts').has('decision/decide.ts')).toBe(true);
  });

  it('has no cycle, not even through type-only imports', () => {
    expect(cycles(graph).map((cycle) => cycle.join(' → '))).toEqual([]);
  });

  it('lets decision/ import nothing outside itself', () => {
    const decision = [...graph.keys()].filter((module) => module.startsWith('decision/'));
    const inSrc = (to: string): boolean => graph.has(to) || to.endsWith('.ts');
    expect(offending(decision, (to) => inSrc(to) && !to.startsWith('decision/'))).toEqual([]);
  });

  it('lets grpc/ (the gRPC transport) import nothing outside itself', () => {
    const transport = [...graph.keys()].filter((module) => module.startsWith('grpc/'));
    expect(transport.length).toBeGreaterThan(0);
    const inSrc = (to: string): boolean => graph.has(to) || to.endsWith('.ts');
    expect(offending(transport, (to) => inSrc(to) && !to.startsWith('grpc/'))).toEqual([]);
  });

  it('keeps yaml, node:fs, policy/ and the database out of everything the Check handler runs', () => {
    const hot = reachable(graph, 'authz/check.ts');
    const forbidden = (to: string): boolean =>
      to === 'yaml' ||
      to === 'pg' ||
      to.startsWith('store/') ||
      to === 'fs' ||
      to.startsWith('fs/') ||
      to.startsWith('node:fs') ||
      to.startsWith('policy/');
    expect(offending(hot, forbidden, true)).toEqual([]);
  });

  it('lets only service/ open the shared store (settings/ reads its URL)', () => {
    const store = [...graph.keys()].filter((module) => module.startsWith('store/'));
    expect(store.length).toBeGreaterThan(0);
    const opener = (from: string): boolean => from.startsWith('service/') || from.startsWith('store/');
    expect(
      offending(
        graph.keys(),
        (to, from) => to.startsWith('store/') && !opener(from) && to !== 'store/dsn.ts',
      ),
    ).toEqual([]);
    expect(offending(graph.keys(), (to, from) => to === 'pg' && !from.startsWith('store/'))).toEqual([]);
  });

  it('lets only cli.ts import commands/ and service/', () => {
    const outside = (module: string): boolean =>
      module.startsWith('commands/') || module.startsWith('service/');
    expect(offending(graph.keys(), (to, from) => outside(to) && from !== 'cli.ts' && !outside(from))).toEqual(
      [],
    );
  });

  it('never imports the Envoy-side toolkit (kit/): the service does not ship or run it', () => {
    expect(offending(graph.keys(), (to) => to.startsWith('../kit/'))).toEqual([]);
  });

  it('leaves the process to commands/: service/ never listens on `process` or exits it', () => {
    const service = [...graph.keys()].filter((module) => module.startsWith('service/'));
    expect(service.length).toBeGreaterThan(0);
    const calls = service.flatMap((module) =>
      readFileSync(join(SRC, module), 'utf8')
        .split('\n')
        .flatMap((text, i) => (/\bprocess\.(on|once|off|exit)\(/.test(text) ? [`${module}:${i + 1}`] : [])),
    );
    expect(calls).toEqual([]);
  });
});

describe('the Envoy-side toolkit (kit/)', () => {
  const kit = importGraph(join(import.meta.dirname, '../kit'));

  it('is read: the client and its wire are found', () => {
    expect(kit.get('client.mjs')?.some((edge) => edge.to === 'wire.mjs')).toBe(true);
  });

  it("imports nothing of the service (src/, dist/): it speaks from Envoy's side of the wire", () => {
    const found: string[] = [];
    for (const [from, edges] of kit) {
      for (const edge of edges) {
        if (edge.to.startsWith('../')) found.push(`${from}:${edge.line} imports ${edge.to}`);
      }
    }
    expect(found).toEqual([]);
  });
});
