/** Recent decisions: the in-memory ring of the latest denies and shadow-denies. */
import { getJson, type RecentDecisions } from '../api.js';
import { Loaded, LogTable, useLoad } from '../components.js';

export function RecentPage() {
  const [load, reload] = useLoad(() => getJson<RecentDecisions>('decisions/recent'));
  return (
    <section aria-labelledby="recent-title">
      <h2 id="recent-title">Recent decisions</h2>
      <button type="button" onClick={reload}>
        Refresh
      </button>
      <Loaded load={load}>
        {(value) => (
          <>
            <p class="muted">
              The latest {value.items.length} of {value.recorded} denies and shadow-denies since start-up (at
              most {value.capacity} are kept), newest first.
            </p>
            {value.items.length === 0 ? (
              <p>No deny or shadow-deny yet.</p>
            ) : (
              <LogTable lines={value.items} label="Recent denies and shadow-denies" />
            )}
          </>
        )}
      </Loaded>
    </section>
  );
}
