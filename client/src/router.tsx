// A tiny client-side router for the four fixed routes (DESIGN.md §8).

import { useEffect, useState, type AnchorHTMLAttributes, type MouseEvent } from 'react';

export type Route =
  | { name: 'home' }
  | { name: 'vote'; id: string }
  | { name: 'present'; id: string }
  | { name: 'admin'; id: string }
  | { name: 'notfound' };

export function matchRoute(pathname: string): Route {
  if (pathname === '/' || pathname === '') return { name: 'home' };
  const m = /^\/p\/([A-Za-z0-9_-]{1,64})(?:\/(present|admin))?\/?$/.exec(pathname);
  if (!m) return { name: 'notfound' };
  const id = m[1];
  if (m[2] === 'present') return { name: 'present', id };
  if (m[2] === 'admin') return { name: 'admin', id };
  return { name: 'vote', id };
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
