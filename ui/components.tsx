/**
 * Pieces shared by the pages. Every text that comes from policies, certificates or requests is
 * rendered as a text node (Preact escapes it); nothing here builds HTML from strings.
 */
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import type { DecidedBy, EvaluationOrder, LogLine, OrderedEntry } from './api.js';

export type Load<T> =
  | { readonly state: 'loading' }
  | { readonly state: 'error'; readonly message: string }
  | { readonly state: 'ready'; readonly value: T };

/** Runs `fetcher` on mount and on `reload()`; the latest answer wins. */
export function useLoad<T>(fetcher: () => Promise<T>): [Load<T>, () => void] {
  const [load, setLoad] = useState<Load<T>>({ state: 'loading' });
  const [round, setRound] = useState(0);
  useEffect(() => {
    let current = true;
    fetcher().then(
      (value) => current && setLoad({ state: 'ready', value }),
      (error: unknown) => current && setLoad({ state: 'error', message: (error as Error).message }),
    );
    return () => {
      current = false;
    };
  }, [round]);
  return [load, useCallback(() => setRound((n) => n + 1), [])];
}

export function Loaded<T>(props: { load: Load<T>; children: (value: T) => ComponentChildren }) {
  const { load } = props;
  if (load.state === 'loading') return <p class="muted">Loading…</p>;
  if (load.state === 'error') return <ErrorBox message={load.message} />;
  return <>{props.children(load.value)}</>;
}

export function ErrorBox(props: { message: string }) {
  return (
    <p class="error" role="alert">
      {props.message}
    </p>
  );
}

export function ActionBadge(props: { action: string }) {
  const kind =
    props.action === 'Deny' || props.action === 'deny'
      ? 'deny'
      : props.action.includes('hadow')
        ? 'shadow'
        : 'allow';
  return <span class={`badge badge-${kind}`}>{props.action}</span>;
}

export function formatTags(tags: Readonly<Record<string, string>>): string {
  const pairs = Object.entries(tags).map(([k, v]) => `${k}=${v}`);
  return pairs.length === 0 ? 'every client (Mesh)' : pairs.join(', ');
}

function isDecider(entry: OrderedEntry, decidedBy: DecidedBy | null | undefined): boolean {
  return decidedBy != null && decidedBy.policy === entry.policy && decidedBy.fromIndex === entry.fromIndex;
}

/** The selected policies and their joined from list, the deciding entry (if any) marked. */
export function OrderView(props: { order: EvaluationOrder; decidedBy?: DecidedBy | null }) {
  const { order, decidedBy } = props;
  return (
    <div class="order">
      <p>
        Mesh <strong>{order.mesh}</strong> (mTLS {order.mtls}), inbound{' '}
        <code>{formatTags(order.destinationTags)}</code>
      </p>
      {order.policies.length === 0 ? (
        <p>No enforced MeshTrafficPermission selects this inbound: every client is denied (no-policy).</p>
      ) : (
        <>
          <h3>Policies in evaluation order</h3>
          <p class="muted">
            Least specific first; their from lists are joined in this order and the last entry that covers the
            client wins.
          </p>
          <ol class="policies">
            {order.policies.map((p) => (
              <li key={p.name} class={decidedBy?.policy === p.name ? 'decided' : undefined}>
                <strong>{p.name}</strong> <span class="muted">{p.kind ?? ''}</span>
                {p.origin !== null && <span class="tag">origin: {p.origin}</span>}
                {decidedBy?.policy === p.name && <span class="tag tag-decided">deciding policy</span>}
                <div class="file">
                  {p.file}:{p.line}:{p.col}
                </div>
              </li>
            ))}
          </ol>
          <h3>Joined from list</h3>
          <div class="scroll">
            <table class="entries">
              <caption class="visually-hidden">
                From entries of the selected policies, in evaluation order
              </caption>
              <thead>
                <tr>
                  <th scope="col">#</th>
                  <th scope="col">Policy</th>
                  <th scope="col">Entry</th>
                  <th scope="col">Action</th>
                  <th scope="col">Client tags</th>
                  <th scope="col">Note</th>
                </tr>
              </thead>
              <tbody>
                {order.entries.map((entry) => {
                  const decided = isDecider(entry, decidedBy);
                  return (
                    <tr
                      key={entry.index}
                      class={
                        [decided ? 'decided' : '', entry.unreachable ? 'unreachable' : ''].join(' ').trim() ||
                        undefined
                      }
                      aria-current={decided ? 'true' : undefined}
                    >
                      <td>{entry.index + 1}</td>
                      <td>{entry.policy}</td>
                      <td>from[{entry.fromIndex}]</td>
                      <td>
                        <ActionBadge action={entry.action} />
                      </td>
                      <td>
                        <code>{formatTags(entry.tags)}</code>
                      </td>
                      <td>
                        {decided && <strong class="decided-label">Decided this request</strong>}
                        {entry.unreachable && entry.overriddenBy !== null && (
                          <span>
                            Unreachable: entry #{entry.overriddenBy + 1} always overrides it for a
                            single-valued client
                          </span>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </>
      )}
      {order.shadowPolicies.length > 0 && (
        <>
          <h3>Shadow policies selecting this inbound (not enforced)</h3>
          <ul>
            {order.shadowPolicies.map((p) => (
              <li key={p.name}>
                <strong>{p.name}</strong>{' '}
                <span class="file">
                  {p.file}:{p.line}:{p.col}
                </span>
              </li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}

const LOG_COLUMNS = [
  'time',
  'decision',
  'via',
  'mesh',
  'source',
  'destination',
  'policy',
  'request',
] as const;

function cell(line: LogLine, column: (typeof LOG_COLUMNS)[number]): string {
  const text = (key: string): string => {
    const value = line[key];
    return value === null || value === undefined
      ? ''
      : typeof value === 'string'
        ? value
        : JSON.stringify(value);
  };
  if (column === 'policy') return line.policy == null ? '—' : `${text('policy')} from[${text('fromIndex')}]`;
  if (column === 'request') {
    if (line.method === undefined) return 'TCP';
    const id = line.requestId == null ? '' : ` (x-request-id ${text('requestId')})`;
    return `${text('method')} ${text('host')}${text('path')}${id}`;
  }
  return text(column);
}

function shadowText(line: LogLine): string {
  const shadow = line.shadow as Record<string, unknown> | undefined;
  if (shadow === undefined || shadow === null) return '';
  const by =
    shadow.policy == null ? String(shadow.via) : `${String(shadow.policy)} from[${String(shadow.fromIndex)}]`;
  return `${String(shadow.outcome)}: ${String(shadow.action)} by ${by}`;
}

/** Decision log lines as a table, with the shadow difference when `withShadow`. */
export function LogTable(props: { lines: readonly LogLine[]; label: string; withShadow?: boolean }) {
  return (
    <div class="scroll">
      <table class="log">
        <caption class="visually-hidden">{props.label}</caption>
        <thead>
          <tr>
            {LOG_COLUMNS.map((c) => (
              <th scope="col" key={c}>
                {c}
              </th>
            ))}
            {props.withShadow && <th scope="col">with shadow policies</th>}
          </tr>
        </thead>
        <tbody>
          {props.lines.map((line, i) => (
            <tr key={i}>
              {LOG_COLUMNS.map((c) => (
                <td key={c}>{c === 'decision' ? <ActionBadge action={cell(line, c)} /> : cell(line, c)}</td>
              ))}
              {props.withShadow && <td>{shadowText(line)}</td>}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
