import { type MouseEvent, type ReactNode, useEffect, useState } from 'react';

/** A history-API router small enough to read: the server answers every console path with index.html. */
const listeners = new Set<() => void>();

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (options.replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  for (const listener of listeners) listener();
}

export function usePath(): string {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const update = () => setPath(location.pathname);
    listeners.add(update);
    addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      removeEventListener('popstate', update);
    };
  }, []);
  return path;
}

export function Link({ to, children, className }: { to: string; children: ReactNode; className?: string }) {
  const follow = (event: MouseEvent<HTMLAnchorElement>) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(to);
  };
  return (
    <a href={to} onClick={follow} className={className}>
      {children}
    </a>
  );
}

/** Reads the token a mailed link carries in its fragment (never sent to servers) and removes it from view. */
export function takeFragmentToken(): string | null {
  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  if (token) history.replaceState(null, '', location.pathname);
  return token;
}

/** Where to go once signed in, when a page a signed-out visitor opened needs a session (an invitation). */
let afterSignIn: string | null = null;

export function returnAfterSignIn(path: string): void {
  afterSignIn = path;
}

export function takeReturnPath(): string {
  const path = afterSignIn ?? '/';
  afterSignIn = null;
  return path;
}
