import { useEffect, useRef } from 'react';

/** Focuses a heading as a starting point (not a control: no outline, see styles.css). */
export function focusHeading(selector: string): void {
  const heading = document.querySelector<HTMLElement>(selector);
  heading?.setAttribute('tabindex', '-1');
  heading?.focus();
}

/**
 * When a screen replaces its own content (an enrolment giving way to the recovery codes), the control that
 * was used is gone and the focus with it: this moves it to the new content's first heading. `step` is null
 * while loading, and the first step shown takes no focus, so a page load keeps the page's own heading.
 */
export function useFocusOnStep(step: string | null): void {
  const shown = useRef<string | null>(null);
  useEffect(() => {
    if (step === null || step === shown.current) return;
    const first = shown.current === null;
    shown.current = step;
    if (!first) focusHeading('main section h2');
  }, [step]);
}

/**
 * Names the tab after the page's heading, and after a client-side navigation starts keyboard and
 * screen-reader users at the new page's heading, as they would after a page load.
 */
export function usePageHeading(path: string, product: string): void {
  useEffect(() => {
    const heading = document.querySelector('h1');
    document.title = heading?.textContent ? `${heading.textContent} · ${product}` : product;
  });
  const firstPath = useRef(path);
  useEffect(() => {
    if (path === firstPath.current) return;
    firstPath.current = '';
    focusHeading('main h1');
  }, [path]);
}
