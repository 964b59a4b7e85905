/** Explain: one request against the live policies — the decision, why, and the deciding entry. */
import { useState } from 'preact/hooks';
import { type EvaluationOrder, type ExplainAnswer, getJson, orderPath, parseTags, postJson } from '../api.js';
import { ActionBadge, ErrorBox, OrderView } from '../components.js';

/** `via` in words; an unknown value is shown as it is. */
const VIA_TEXT: Record<string, string> = {
  rule: 'decided by a from entry (the last one covering the client)',
  'no-matching-from': 'no from entry covers the client: implicit deny',
  'no-matching-rule': 'no rule matches the client: implicit deny',
  'no-policy': 'no MeshTrafficPermission selects this inbound: implicit deny',
  'mtls-disabled': 'mTLS is disabled on the mesh: traffic permissions are not enforced',
  'permissive-plaintext': 'mTLS is PERMISSIVE and the client sent no certificate',
  'no-identity': 'mTLS is STRICT and the client presented no identity',
  'mesh-mismatch': "the client's SPIFFE trust domain is another mesh",
  'invalid-identity': 'the client presented no valid workload identity',
  'no-destination': 'the destination inbound could not be determined',
};

const KNOWN_FIELDS = new Set(['action', 'via', 'decidedBy', 'policies']);

type ClientKind = 'sans' | 'pem' | 'none';

interface Result {
  readonly answer: ExplainAnswer;
  readonly order: EvaluationOrder | null;
}

export function ExplainPage() {
  const [mesh, setMesh] = useState('default');
  const [tags, setTags] = useState('kuma.io/service=');
  const [kind, setKind] = useState<ClientKind>('sans');
  const [sans, setSans] = useState('');
  const [pem, setPem] = useState('');
  const [result, setResult] = useState<Result | null>(null);
  const [error, setError] = useState<string | null>(null);

  const run = async (event: Event) => {
    event.preventDefault();
    const parsed = parseTags(tags);
    if ('error' in parsed) {
      setError(parsed.error);
      return;
    }
    const body: Record<string, unknown> = {
      destinationMesh: mesh,
      destinationTags: Object.fromEntries(parsed.tags),
    };
    if (kind === 'sans')
      body.clientSans = sans
        .split('\n')
        .map((s) => s.trim())
        .filter((s) => s !== '');
    if (kind === 'pem') body.clientCert = pem;
    try {
      setError(null);
      const answer = await postJson<ExplainAnswer>('explain', body);
      const order =
        answer.policies.length > 0 ? await getJson<EvaluationOrder>(orderPath(mesh, parsed.tags)) : null;
      setResult({ answer, order });
    } catch (e) {
      setResult(null);
      setError((e as Error).message);
    }
  };

  return (
    <section aria-labelledby="explain-title">
      <h2 id="explain-title">Explain a decision</h2>
      <div class="split">
        <form class="form" onSubmit={run}>
          <label for="explain-mesh">Destination mesh</label>
          <input id="explain-mesh" value={mesh} onInput={(e) => setMesh(e.currentTarget.value)} required />
          <label for="explain-tags">
            Inbound tags (KEY=VALUE, comma separated; kuma.io/service is required)
          </label>
          <input id="explain-tags" value={tags} onInput={(e) => setTags(e.currentTarget.value)} required />
          <fieldset>
            <legend>Client</legend>
            {(
              [
                ['sans', 'URI SANs'],
                ['pem', 'PEM certificate'],
                ['none', 'No certificate (plaintext)'],
              ] as const
            ).map(([value, label]) => (
              <label key={value} class="choice">
                <input
                  type="radio"
                  name="client-kind"
                  value={value}
                  checked={kind === value}
                  onChange={() => setKind(value)}
                />{' '}
                {label}
              </label>
            ))}
          </fieldset>
          {kind === 'sans' && (
            <>
              <label for="explain-sans">
                Client URI SANs, one per line (spiffe://MESH/SERVICE, kuma://KEY/VALUE)
              </label>
              <textarea
                id="explain-sans"
                rows={3}
                value={sans}
                onInput={(e) => setSans(e.currentTarget.value)}
              />
            </>
          )}
          {kind === 'pem' && (
            <>
              <label for="explain-pem">Client certificate (PEM)</label>
              <textarea
                id="explain-pem"
                rows={6}
                value={pem}
                onInput={(e) => setPem(e.currentTarget.value)}
              />
            </>
          )}
          <button type="submit">Explain</button>
        </form>
        <div aria-live="polite">
          {error !== null && <ErrorBox message={error} />}
          {result !== null && <Answer result={result} />}
        </div>
      </div>
    </section>
  );
}

function Answer(props: { result: Result }) {
  const { answer, order } = props.result;
  const extra = Object.entries(answer).filter(([key]) => !KNOWN_FIELDS.has(key));
  const decidedExtra =
    answer.decidedBy === null
      ? []
      : Object.entries(answer.decidedBy).filter(([k]) => k !== 'policy' && k !== 'fromIndex');
  return (
    <div class="answer" id="explain-answer">
      <p class="decision">
        Decision: <ActionBadge action={answer.action} />
      </p>
      <p>
        Why: <span class="reason">{VIA_TEXT[answer.via] ?? answer.via}</span>{' '}
        <span class="muted">(via {answer.via})</span>
      </p>
      <p>
        Decided by:{' '}
        {answer.decidedBy === null ? (
          <span>no entry (nothing applied)</span>
        ) : (
          <strong class="decided-by">
            {answer.decidedBy.policy}
            {typeof answer.decidedBy.fromIndex === 'number' && ` from[${answer.decidedBy.fromIndex}]`}
          </strong>
        )}
        {decidedExtra.map(([key, value]) => (
          <span key={key} class="tag">
            {key}: {JSON.stringify(value)}
          </span>
        ))}
      </p>
      {extra.length > 0 && (
        <dl class="extra">
          {extra.map(([key, value]) => (
            <div key={key}>
              <dt>{key}</dt>
              <dd>
                <code>{typeof value === 'string' ? value : JSON.stringify(value, null, 1)}</code>
              </dd>
            </div>
          ))}
        </dl>
      )}
      {order !== null && <OrderView order={order} decidedBy={answer.decidedBy} />}
    </div>
  );
}
