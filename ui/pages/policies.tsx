/** Policies: every MeshTrafficPermission per mesh, and the evaluation order for one inbound. */
import { useState } from 'preact/hooks';
import { type EvaluationOrder, getJson, orderPath, parseTags, type PolicyListing } from '../api.js';
import { ErrorBox, Loaded, OrderView, useLoad } from '../components.js';

export function PoliciesPage() {
  const [listing] = useLoad(() => getJson<PolicyListing>('policies'));
  const [mesh, setMesh] = useState('default');
  const [tags, setTags] = useState('kuma.io/service=');
  const [order, setOrder] = useState<EvaluationOrder | null>(null);
  const [error, setError] = useState<string | null>(null);

  const show = async (event: Event) => {
    event.preventDefault();
    const parsed = parseTags(tags);
    if ('error' in parsed) {
      setError(parsed.error);
      return;
    }
    try {
      setError(null);
      setOrder(await getJson<EvaluationOrder>(orderPath(mesh, parsed.tags)));
    } catch (e) {
      setOrder(null);
      setError((e as Error).message);
    }
  };

  return (
    <section aria-labelledby="policies-title">
      <h2 id="policies-title">Policies</h2>
      <div class="split">
        <form class="form" onSubmit={show}>
          <label for="order-mesh">Destination mesh</label>
          <input id="order-mesh" value={mesh} onInput={(e) => setMesh(e.currentTarget.value)} required />
          <label for="order-tags">
            Inbound tags (KEY=VALUE, comma separated; kuma.io/service is required)
          </label>
          <input id="order-tags" value={tags} onInput={(e) => setTags(e.currentTarget.value)} required />
          <button type="submit">Show evaluation order</button>
        </form>
        <div aria-live="polite">
          {error !== null && <ErrorBox message={error} />}
          {order !== null && <OrderView order={order} />}
        </div>
      </div>
      <h3>All MeshTrafficPermissions by mesh</h3>
      <Loaded load={listing}>
        {(value) => {
          const byMesh = new Map<string, { name: string; file: string }[]>();
          for (const p of value.policies) {
            if (p.type !== 'MeshTrafficPermission') continue;
            const mesh = p.mesh ?? '';
            byMesh.set(mesh, [...(byMesh.get(mesh) ?? []), { name: p.name, file: p.file }]);
          }
          if (byMesh.size === 0) return <p>No MeshTrafficPermission is loaded.</p>;
          return [...byMesh].map(([meshName, policies]) => (
            <div key={meshName} class="card">
              <h4>Mesh {meshName}</h4>
              <ul>
                {policies.map((p) => (
                  <li key={p.name}>
                    <strong>{p.name}</strong> <span class="file">{p.file}</span>
                  </li>
                ))}
              </ul>
            </div>
          ));
        }}
      </Loaded>
    </section>
  );
}
