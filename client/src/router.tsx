// A small client-side router for the fixed routes (DESIGN.md §8), with "page not found" for
// every other path.  `/p/{ID}` in capitals or with spaces leads to the poll (the address is
// rewritten to the canonical one).

import { useEffect, useState, type AnchorHTMLAttributes, type MouseEvent } from 'react';
import { POLL_ID_RE, normalizeCode } from './state/codes';

export type Route =
  | { name: 'home' }
  | { name: 'vote'; id: string }
  | { name: 'present'; id: string }
  | { name: 'admin'; id: string }
  | { name: 'notfound' };

function decode(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

/** The route of a path, and the canonical path when it differs (capitals, spaces, a trailing slash). */
export function matchRoute(pathname: string): Route & { canonical?: string } {
  if (pathname === '/' || pathname === '' || pathname === '/index.html') return { name: 'home' };
  const m = /^\/p\/([^/]{1,64})(?:\/(present|admin))?\/?$/.exec(pathname);
  if (!m) return { name: 'notfound' };
  const raw = decode(m[1]);
  if (raw === null) return { name: 'notfound' };
  const id = normalizeCode(raw);
  if (!POLL_ID_RE.test(id)) return { name: 'notfound' };
  const page = m[2] as 'present' | 'admin' | undefined;
  const canonical = `/p/${id}${page ? `/${page}` : ''}`;
  const route: Route = page === 'present' ? { name: 'present', id } : page === 'admin' ? { name: 'admin', id } : { name: 'vote', id };
  return canonical === pathname ? route : { ...route, canonical };
}

const EVENT = 'voting:navigate';

export function navigate(to: string, replace = false): void {
  if (replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  window.dispatchEvent(new Event(EVENT));
  window.scrollTo(0, 0);
}

export function useLocation(): { pathname: string; hash: string; search: string } {
  const get = () => ({ pathname: window.location.pathname, hash: window.location.hash, search: window.location.search });
  const [loc, setLoc] = useState(get);
  useEffect(() => {
    const on = () => setLoc(get());
    window.addEventListener('popstate', on);
    window.addEventListener(EVENT, on);
    return () => {
      window.removeEventListener('popstate', on);
      window.removeEventListener(EVENT, on);
    };
  }, []);
  return loc;
}

/** <a> that navigates in-app for plain left clicks, and behaves as a normal link otherwise. */
export function Link({ href, onClick, ...rest }: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string }) {
  const handle = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    if (rest.target && rest.target !== '_self') return;
    if (!href.startsWith('/')) return;
    e.preventDefault();
    navigate(href);
  };
  return <a href={href} onClick={handle} {...rest} />;
}
