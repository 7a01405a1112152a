// The console's shell: signs in (a one-time link in the URL fragment, or an admin API token typed into the
// form), then shows the pages the signed-in role may use, chosen by the URL fragment (#/machines …).
import { render } from '../vendor/preact.js';
import { useEffect, useState } from '../vendor/hooks.js';
import { session, setCsrf, signInWithLink, signOut } from './api.js';
import { html } from './html.js';
import { Machines, MyDevices } from './machines.js';
import { Users } from './users.js';
import { Keys } from './keys.js';
import { PolicyEditor } from './policy.js';
import { pages as accessPages } from './access.js';
import { pages as auditPages } from './audit.js';

const ADMIN_PAGES = [
  ['machines', 'Machines', Machines],
  ['users', 'Users', Users],
  ['keys', 'Auth keys', Keys],
  ['policy', 'Policy', PolicyEditor],
];
const MEMBER_PAGES = [['devices', 'My devices', MyDevices]];

/** Pages other modules bring: [id, title, Component, roles]. */
const extraPages = [...accessPages, ...auditPages];

function pagesFor(role) {
  const base = role === 'admin' ? ADMIN_PAGES : MEMBER_PAGES;
  return [...base, ...extraPages.filter((p) => p[3].includes(role)).map((p) => p.slice(0, 3))];
}

function SignIn() {
  const failed = new URLSearchParams(location.search).get('signin') === 'failed';
  return html`<main class="signin">
    <h1>grantwire</h1>
    <form method="post" action="/admin/login" data-testid="signin-form">
      <label>Admin API token <input name="token" type="password" autocomplete="off" placeholder="gwapi-…" required /></label>
      <button type="submit">Sign in</button>
    </form>
    ${failed ? html`<p class="error" role="alert" data-testid="signin-failed">Sign-in failed: the token or link is invalid, expired or already used.</p>` : null}
    <p class="hint">Or open a one-time link from <code>control console link [--as LOGIN] --state FILE</code>.</p>
  </main>`;
}

function currentPage() {
  return location.hash.replace(/^#\/?/, '');
}

function Shell({ me }) {
  const pages = pagesFor(me.role);
  const [page, setPage] = useState(currentPage());
  useEffect(() => {
    const on = () => setPage(currentPage());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  const found = pages.find((p) => p[0] === page) ?? pages[0];
  const Page = found[2];
  return html`<div class="shell">
    <header>
      <strong>grantwire</strong>
      <nav>${pages.map(([id, title]) => html`<a href=${`#/${id}`} class=${id === found[0] ? 'active' : ''} data-testid=${`nav-${id}`}>${title}</a>`)}</nav>
      <span class="who" data-testid="whoami">${me.login} (${me.role})</span>
      <button class="link" onClick=${() => signOut().then(() => location.assign('/admin/'))}>Sign out</button>
    </header>
    <main><${Page} me=${me} /></main>
  </div>`;
}

function App() {
  const [me, setMe] = useState(undefined);
  useEffect(() => {
    (async () => {
      const m = /^#link=(gwlnk-[A-Za-z0-9_-]+)$/.exec(location.hash);
      if (m) {
        // Out of the address bar and history before anything else happens.
        history.replaceState(null, '', '/admin/');
        await signInWithLink(m[1]);
      }
      const s = await session();
      if (s) setCsrf(s.csrf);
      if (!s && m) history.replaceState(null, '', '/admin/?signin=failed');
      setMe(s);
    })();
  }, []);
  if (me === undefined) return html`<p class="loading">Loading…</p>`;
  return me ? html`<${Shell} me=${me} />` : html`<${SignIn} />`;
}

render(html`<${App} />`, document.getElementById('app'));
