import { lazy, Suspense, useEffect, useRef } from 'react';
import { Link, matchRoute, navigate, useLocation } from './router';
import { Loading, PageNotFound } from './components/PollState';

// Route-level code splitting: a phone that opens a share link loads the vote page only, not
// the create form, the organizer controls or the presenter.
const Home = lazy(() => import('./pages/Home'));
const VotePage = lazy(() => import('./pages/VotePage'));
const PresentPage = lazy(() => import('./pages/PresentPage'));
const AdminPage = lazy(() => import('./pages/AdminPage'));

export function App() {
  const { pathname, search, hash } = useLocation();
  const route = matchRoute(pathname);
  const first = useRef(true);

  // /p/7709%204ZJ5 → /p/77094zj5 (keeping a #code= or #token= fragment).
  useEffect(() => {
    if (route.canonical) navigate(route.canonical + search + hash, true);
  }, [route.canonical, search, hash]);

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
      <Suspense fallback={<Loading />}>
        {route.name === 'home' && <Home />}
        {route.name === 'vote' && <VotePage key={route.id} id={route.id} />}
        {route.name === 'present' && <PresentPage key={route.id} id={route.id} />}
        {route.name === 'admin' && <AdminPage key={route.id} id={route.id} />}
        {route.name === 'notfound' && <PageNotFound />}
      </Suspense>
    </>
  );
}
