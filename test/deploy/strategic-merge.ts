/**
 * A strategic-merge patch applied the way kustomize applies one to a Deployment, for the lists the
 * overlays touch: containers, env and volumes merge by name, volume mounts by mount path, ports by
 * container port; other lists and scalars are replaced. No `$patch` directives.
 */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const isObject = (value: Json | undefined): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The key a list's items merge on, as the Kubernetes API declares it for the lists used here. */
function mergeKey(field: string): string | undefined {
  if (field === 'volumeMounts') return 'mountPath';
  if (['containers', 'env', 'volumes', 'ports'].includes(field))
    return field === 'ports' ? 'containerPort' : 'name';
  return undefined;
}

/** A strategic-merge patch applied to `base` (no `$patch` directives: the overlay uses none). */
export function strategicMerge(base: Json, patch: Json, field = ''): Json {
  if (isObject(base) && isObject(patch)) {
    const out: JsonObject = { ...base };
    for (const [key, value] of Object.entries(patch))
      out[key] = key in base ? strategicMerge(base[key] as Json, value, key) : value;
    return out;
  }
  const key = mergeKey(field);
  if (Array.isArray(base) && Array.isArray(patch) && key !== undefined) {
    const out = [...base];
    // Patch items new to the list go first, as kustomize writes them.
    const added: Json[] = [];
    for (const item of patch) {
      const at = out.findIndex((b) => isObject(b) && isObject(item) && b[key] === item[key]);
      if (at >= 0) out[at] = strategicMerge(out[at] as Json, item);
      else added.push(item);
    }
    return [...added, ...out];
  }
  return patch;
}
