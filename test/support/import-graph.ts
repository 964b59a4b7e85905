/**
 * The import graph of a folder (src/, kit/), read with the TypeScript compiler's own parser: every `import`,
 * `export … from` and `import()` of every module, and whether it survives compilation (a type-only
 * import does not).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

export interface ImportEdge {
  /** A path below src/ ("authz/check.ts"), or a package or node: specifier as written. */
  readonly to: string;
  /** False when the compiler erases it (`import type`, or every name marked `type`). */
  readonly runtime: boolean;
  readonly line: number;
}

export type ImportGraph = ReadonlyMap<string, readonly ImportEdge[]>;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) || entry.name.endsWith('.mjs')
      ? [path]
      : [];
  });
}

function isTypeOnly(node: ts.ImportDeclaration | ts.ExportDeclaration): boolean {
  if (ts.isExportDeclaration(node)) {
    if (node.isTypeOnly) return true;
    const clause = node.exportClause;
    return clause !== undefined && ts.isNamedExports(clause) && clause.elements.length > 0
      ? clause.elements.every((element) => element.isTypeOnly)
      : false;
  }
  const clause = node.importClause;
  if (clause === undefined) return false;
  if (clause.isTypeOnly) return true;
  if (clause.name !== undefined) return false;
  const bindings = clause.namedBindings;
  return bindings !== undefined && ts.isNamedImports(bindings) && bindings.elements.length > 0
    ? bindings.elements.every((element) => element.isTypeOnly)
    : false;
}

/** `./x.js` from `dir/y.ts` → `dir/x.ts`; packages and node: modules as written. */
function target(srcRoot: string, from: string, specifier: string): string {
  if (!specifier.startsWith('.')) return specifier;
  const absolute = resolve(dirname(join(srcRoot, from)), specifier).replace(/\.js$/, '.ts');
  return relative(srcRoot, absolute).split('\\').join('/');
}

export function importGraph(srcRoot: string): ImportGraph {
  const graph = new Map<string, ImportEdge[]>();
  for (const file of sourceFiles(srcRoot)) {
    const from = relative(srcRoot, file).split('\\').join('/');
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const edges: ImportEdge[] = [];
    const add = (specifier: ts.Expression, runtime: boolean, node: ts.Node): void => {
      if (!ts.isStringLiteralLike(specifier)) return;
      const { line } = source.getLineAndCharacterOfPosition(node.getStart(source));
      edges.push({ to: target(srcRoot, from, specifier.text), runtime, line: line + 1 });
    };
    const visit = (node: ts.Node): void => {
      if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
        add(node.moduleSpecifier, !isTypeOnly(node), node);
      } else if (
        ts.isCallExpression(node) &&
        node.expression.kind === ts.SyntaxKind.ImportKeyword &&
        node.arguments[0] !== undefined
      ) {
        add(node.arguments[0], true, node);
      } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
        add(node.argument.literal as ts.Expression, false, node);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
    graph.set(from, edges);
  }
  return graph;
}

/** Every module `start` reaches through imports that survive compilation, `start` included. */
export function reachable(graph: ImportGraph, start: string): Set<string> {
  const seen = new Set<string>([start]);
  const queue = [start];
  for (let next = queue.pop(); next !== undefined; next = queue.pop()) {
    for (const edge of graph.get(next) ?? []) {
      if (!edge.runtime || seen.has(edge.to) || !graph.has(edge.to)) continue;
      seen.add(edge.to);
      queue.push(edge.to);
    }
  }
  return seen;
}

/** The cycles of the graph (type-only imports included), each as the modules around it. */
export function cycles(graph: ImportGraph): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (module: string): void => {
    state.set(module, 'open');
    path.push(module);
    for (const edge of graph.get(module) ?? []) {
      if (!graph.has(edge.to)) continue;
      const seen = state.get(edge.to);
      if (seen === 'open') found.push([...path.slice(path.indexOf(edge.to)), edge.to]);
      else if (seen === undefined) visit(edge.to);
    }
    path.pop();
    state.set(module, 'done');
  };
  for (const module of [...graph.keys()].sort()) if (!state.has(module)) visit(module);
  return found;
}
