/**
 * The operator console: five read-only pages over the service's own HTTP API, switched by the
 * URL fragment (#/explain …) so every page has a link and the browser's back button works.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ExplainPage } from './pages/explain.js';
import { PoliciesPage } from './pages/policies.js';
import { RecentPage } from './pages/recent.js';
import { ShadowPage } from './pages/shadow.js';
import { StatusPage } from './pages/status.js';

const PAGES = [
  { id: 'policies', title: 'Policies', page: PoliciesPage },
  { id: 'explain', title: 'Explain', page: ExplainPage },
  { id: 'recent', title: 'Recent decisions', page: RecentPage },
  { id: 'shadow', title: 'Shadow', page: ShadowPage },
  { id: 'status', title: 'Status', page: StatusPage },
] as const;

function currentPage(): string {
  const id = window.location.hash.replace(/^#\/?/, '');
  return PAGES.some((p) => p.id === id) ? id : 'explain';
}

function App() {
  const [id, setId] = useState(currentPage);
  useEffect(() => {
    const onHash = () => setId(currentPage());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  useEffect(() => {
    const page = PAGES.find((p) => p.id === id);
    document.title = `${page?.title ?? ''} · mtp-authz console`;
  }, [id]);
  const Page = (PAGES.find((p) => p.id === id) ?? PAGES[1]).page;
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header>
        <h1>mtp-authz console</h1>
        <nav aria-label="Console pages">
          <ul>
            {PAGES.map((p) => (
              <li key={p.id}>
                <a href={`#/${p.id}`} aria-current={p.id === id ? 'page' : undefined}>
                  {p.title}
                </a>
              </li>
            ))}
          </ul>
        </nav>
      </header>
      <main id="main" tabIndex={-1}>
        <Page key={id} />
      </main>
    </>
  );
}

const root = document.getElementById('app');
if (root !== null) render(<App />, root);
