import { useEffect, useRef } from 'react';
import { Link, matchRoute, useLocation } from './router';
import { Home } from './pages/Home';
import { VotePage } from './pages/VotePage';
import { PresentPage } from './pages/PresentPage';
import { AdminPage } from './pages/AdminPage';

export function App() {
  const { pathname } = useLocation();
  const route = matchRoute(pathname);
  const first = useRef(true);

  // After an in-app navigation, move focus to the page heading so keyboard and
  // screen-reader users land on the new page (not on the first load).
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    const t = setTimeout(() => {
      const h = document.querySelector<HTMLElement>('main h1');
      if (h) {
        if (!h.hasAttribute('tabindex')) h.setAttribute('tabindex', '-1');
        h.focus({ preventScroll: true });
      }
    }, 50);
    return () => clearTimeout(t);
  }, [pathname]);

  const presenting = route.name === 'present';
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      {!presenting && (
        <header className="topbar no-print">
          <Link href="/" className="brand" aria-label="Voting, home">
            <span className="brand-mark" aria-hidden="true">
              <span />
              <span />
              <span />
            </span>
            Voting
          </Link>
        </header>
      )}
      {route.name === 'home' && <Home />}
      {route.name === 'vote' && <VotePage key={route.id} id={route.id} />}
      {route.name === 'present' && <PresentPage key={route.id} id={route.id} />}
      {route.name === 'admin' && <AdminPage key={route.id} id={route.id} />}
      {route.name === 'notfound' && (
        <main id="main" className="page">
          <section className="card">
            <h1>Page not found</h1>
            <p>
              <Link href="/" className="btn">
                Go to the home page
              </Link>
            </p>
          </section>
        </main>
      )}
    </>
  );
}
