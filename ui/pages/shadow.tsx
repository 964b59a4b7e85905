/** Shadow: what each shadow policy would change if it were enforced. */
import { getJson, type ShadowSummary } from '../api.js';
import { Loaded, LogTable, useLoad } from '../components.js';

export function ShadowPage() {
  const [load, reload] = useLoad(() => getJson<ShadowSummary>('shadow'));
  return (
    <section aria-labelledby="shadow-title">
      <h2 id="shadow-title">Shadow policies</h2>
      <p class="muted">
        Policies labelled kuma.io/effect: shadow are not enforced; every check on an inbound they select is
        also decided as if they were.
      </p>
      <button type="button" onClick={reload}>
        Refresh
      </button>
      <Loaded load={load}>
        {(value) =>
          value.policies.length === 0 ? (
            <p>No shadow policy is loaded.</p>
          ) : (
            value.policies.map((p) => (
              <div class="card" key={`${p.mesh}/${p.name}`}>
                <h3>
                  {p.name} <span class="muted">mesh {p.mesh}</span>
                </h3>
                <div class="file">{p.file}</div>
                <dl class="counts">
                  <div>
                    <dt>same</dt>
                    <dd>{p.counts.same}</dd>
                  </div>
                  <div>
                    <dt>would allow</dt>
                    <dd>{p.counts.would_allow}</dd>
                  </div>
                  <div>
                    <dt>would deny</dt>
                    <dd>{p.counts.would_deny}</dd>
                  </div>
                </dl>
                {p.examples.length > 0 && (
                  <LogTable lines={p.examples} label={`Recent differences of ${p.name}`} withShadow />
                )}
              </div>
            ))
          )
        }
      </Loaded>
    </section>
  );
}
