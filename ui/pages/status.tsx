/** Status: which policy generation serves, whether it is stale, the latest reload and cache ratios. */
import { getJson, type ReloadReport, type Status } from '../api.js';
import { Loaded, useLoad } from '../components.js';

const percent = (ratio: number | null): string =>
  ratio === null ? 'no lookups yet' : `${(ratio * 100).toFixed(1)} %`;

function Reload(props: { report: ReloadReport; title: string }) {
  const { report } = props;
  return (
    <div class={`card ${report.result === 'failure' ? 'card-failure' : ''}`}>
      <h3>{props.title}</h3>
      <p>
        {report.result === 'success'
          ? `Succeeded: generation ${report.generation ?? ''}`
          : `Failed with ${report.errorCount} violation(s)`}{' '}
        at {report.at} ({report.durationMs} ms)
      </p>
      {report.errors.length > 0 && (
        <ul class="violations">
          {report.errors.map((error, i) => (
            <li key={i}>
              <code>{error.text}</code>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function StatusPage() {
  const [load, reload] = useLoad(() => getJson<Status>('status'));
  return (
    <section aria-labelledby="status-title">
      <h2 id="status-title">Status</h2>
      <button type="button" onClick={reload}>
        Refresh
      </button>
      <Loaded load={load}>
        {(s) => (
          <>
            <dl class="facts">
              <div>
                <dt>Generation</dt>
                <dd id="status-generation">{s.generation ?? 'none loaded'}</dd>
              </div>
              <div>
                <dt>Loaded at</dt>
                <dd>{s.loadedAt ?? '—'}</dd>
              </div>
              <div>
                <dt>Stale</dt>
                <dd class={s.stale ? 'stale' : undefined}>
                  {s.stale ? 'yes: the newest files failed to load, older policies serve' : 'no'}
                </dd>
              </div>
              <div>
                <dt>MeshTrafficPermissions</dt>
                <dd>{s.policies}</dd>
              </div>
              {Object.entries(s.caches).map(([name, c]) => (
                <div key={name}>
                  <dt>{name} cache hit ratio</dt>
                  <dd>
                    {percent(c.hitRatio)}{' '}
                    <span class="muted">
                      ({c.hits} hits, {c.misses} misses)
                    </span>
                  </dd>
                </div>
              ))}
            </dl>
            {s.lastReload === null ? (
              <p class="muted">No reload since start-up.</p>
            ) : (
              <Reload report={s.lastReload} title="Latest reload" />
            )}
            {s.lastFailedReload !== null &&
              s.lastFailedReload !== s.lastReload &&
              s.lastFailedReload.at !== s.lastReload?.at && (
                <Reload report={s.lastFailedReload} title="Latest failed reload" />
              )}
          </>
        )}
      </Loaded>
    </section>
  );
}
