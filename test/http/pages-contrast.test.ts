import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/**
 * The account pages' colours, read from the custom properties of pages.css: every text colour must meet
 * WCAG 2 AA (4.5:1) against the page background, in the light and in the dark scheme.
 */
const css = readFileSync(new URL('../../src/http/pages/pages.css', import.meta.url), 'utf8');

/** The custom properties declared in `:root { … }` blocks of `source`. */
function customProperties(source: string): Map<string, string> {
  const properties = new Map<string, string>();
  for (const block of source.matchAll(/:root\s*\{([^}]*)\}/g)) {
    for (const declaration of (block[1] as string).matchAll(/(--[\w-]+)\s*:\s*([^;]+);/g)) {
      properties.set(declaration[1] as string, (declaration[2] as string).trim());
    }
  }
  return properties;
}

function schemes(): { light: Map<string, string>; dark: Map<string, string> } {
  const darkStart = css.search(/@media\s*\(prefers-color-scheme:\s*dark\)\s*\{/);
  expect(darkStart, 'pages.css has a dark scheme').toBeGreaterThan(0);
  // The media block ends at the first closing brace on a line of its own after it.
  const darkEnd = css.indexOf('\n}', darkStart);
  const dark = css.slice(darkStart, darkEnd + 2);
  const light = customProperties(css.slice(0, darkStart) + css.slice(darkEnd + 2));
  return { light, dark: new Map([...light, ...customProperties(dark)]) };
}

function luminance(hex: string): number {
  const match = /^#([0-9a-f]{6})$/i.exec(hex);
  if (!match) throw new Error(`${hex} is not a #rrggbb colour`);
  const channels = [0, 2, 4].map((at) => Number.parseInt((match[1] as string).slice(at, at + 2), 16) / 255);
  const [r, g, b] = channels.map((c) => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4)) as [
    number,
    number,
    number,
  ];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

export function contrast(foreground: string, background: string): number {
  const [lighter, darker] = [luminance(foreground), luminance(background)].sort((a, b) => b - a) as [
    number,
    number,
  ];
  return (lighter + 0.05) / (darker + 0.05);
}

describe('account page colours', () => {
  it('computes contrast as WCAG does', () => {
    expect(contrast('#000000', '#ffffff')).toBeCloseTo(21, 5);
    expect(contrast('#777777', '#ffffff')).toBeCloseTo(4.48, 2);
  });

  for (const scheme of ['light', 'dark'] as const) {
    it(`every text colour meets WCAG AA against the page and the card (${scheme})`, () => {
      const properties = schemes()[scheme];
      const colour = (name: string) => {
        const value = properties.get(name) as string;
        expect(value, `${scheme} ${name}`).toMatch(/^#[0-9a-f]{6}$/i);
        return value;
      };
      // Fills and lines (not text): the page, the header and fieldsets, borders, the button fill, focus ring.
      const fills = ['--accent', '--background', '--border', '--focus', '--surface'];
      const texts = [...properties.keys()].filter(
        (name) => !fills.includes(name) && name !== '--accent-text',
      );
      expect(texts.sort()).toEqual(['--error', '--link', '--muted', '--text']);
      for (const name of texts) {
        for (const background of ['--background', '--surface']) {
          expect(
            contrast(colour(name), colour(background)),
            `${scheme} ${name} on ${background}`,
          ).toBeGreaterThanOrEqual(4.5);
        }
      }
      expect(
        contrast(colour('--accent-text'), colour('--accent')),
        `${scheme} button text`,
      ).toBeGreaterThanOrEqual(4.5);
      // A focus ring and a field's border are non-text: 3:1 against the page (WCAG 1.4.11).
      expect(contrast(colour('--focus'), colour('--background')), `${scheme} focus`).toBeGreaterThanOrEqual(
        3,
      );
    });
  }

  it('paints the page and the error line with those properties', () => {
    expect(css).toMatch(/body\s*\{[^}]*background:\s*var\(--background\);[^}]*color:\s*var\(--text\);/);
    expect(css).toMatch(/\.error\s*\{\s*color:\s*var\(--error\);\s*\}/);
    // No colour outside the custom properties, which the checks above would miss.
    const outsideProperties = css.replace(/--[\w-]+\s*:\s*[^;]+;/g, '');
    expect(outsideProperties).not.toMatch(/#[0-9a-f]{3,8}\b|rgb|hsl/i);
  });
});
