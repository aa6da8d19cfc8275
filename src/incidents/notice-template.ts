import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { escapeHtml, type RenderedMail } from '../mail/templates.js';
import { CATEGORIES, type DataCategory } from './categories.js';
import type { ActionProgress, ResponseActionName } from './model.js';

/**
 * The breach notice an affected person receives (GDPR Art. 34, Cal. Civ. Code 1798.82). It is a plain-text
 * file an operator may edit: a `Subject:` line, then the body, whose headings are lines of their own. The
 * HTML version is derived from the same file, so the two never say different things.
 */
export const NOTICE_FILE = 'incident-notice.txt';

/** The headings California requires, in its order; every notice keeps them. */
export const NOTICE_HEADINGS = [
  'What Happened',
  'What Information Was Involved',
  'What We Are Doing',
  'What You Can Do',
  'For More Information',
] as const;

/** A line of its own that becomes the HTML title; optional, but the law names the notice this way. */
const NOTICE_TITLE = 'Notice of Data Breach';

const TEXT_PLACEHOLDERS = [
  'name',
  'title',
  'whatHappened',
  'exposureFrom',
  'exposureTo',
  'detectedAt',
  'resetLink',
  'contact',
] as const;
/** Filled with one "- " line per entry. */
const LIST_PLACEHOLDERS = ['involved', 'measures'] as const;
/** What a notice must say to be a notice at all: the description, the person's categories, a contact. */
const REQUIRED_PLACEHOLDERS = ['whatHappened', 'involved', 'contact'] as const;

type TextPlaceholder = (typeof TEXT_PLACEHOLDERS)[number];
type ListPlaceholder = (typeof LIST_PLACEHOLDERS)[number];
export type NoticeVars = Record<TextPlaceholder, string> & Record<ListPlaceholder, readonly string[]>;

const KNOWN = new Set<string>([...TEXT_PLACEHOLDERS, ...LIST_PLACEHOLDERS]);
const PLACEHOLDER = /\{\{\s*([A-Za-z][A-Za-z0-9]*)\s*\}\}/g;
const LIST_LINE = /^\s*\{\{\s*(involved|measures)\s*\}\}\s*$/;
const DEFAULT_DIRECTORY = fileURLToPath(new URL('./templates/', import.meta.url));
const LAYOUT = new URL('../mail/templates/layout.html', import.meta.url);

/** An operator's edit of the notice file that cannot be sent; the message says what to fix. */
export class NoticeTemplateError extends Error {
  override name = 'NoticeTemplateError';
}

const DATE = new Intl.DateTimeFormat('en-GB', {
  day: 'numeric',
  month: 'long',
  year: 'numeric',
  timeZone: 'UTC',
});

/** "3 March 2026" (UTC). */
export function plainDate(date: Date): string {
  return DATE.format(date);
}

const STORAGE_NOTES = {
  sealed: 'stored encrypted; unreadable without our keys',
  hashed: 'only a one-way hash was stored',
  'not-stored': 'we do not store this',
} as const;

/** One line per category of this person, in catalogue order; never anyone else's categories. */
export function involvedLines(categories: readonly DataCategory[]): string[] {
  const mine = new Set(categories);
  return Object.values(CATEGORIES)
    .filter((info) => mine.has(info.id))
    .map((info) => {
      const note =
        info.storage === 'partly-sealed'
          ? `partly encrypted: the ${info.inClear ?? 'other details'} were not`
          : STORAGE_NOTES[info.storage];
      return `${info.plain} — ${note}.`;
    });
}

const ACTION_MEASURES: Record<ResponseActionName, string> = {
  'end-sessions': 'We signed everyone affected out of Hearth on all their phones and computers.',
  'force-reset': 'We require a new password before you can sign in again.',
  'revoke-integrations': 'We disconnected Alexa, Google Home and IFTTT from affected accounts.',
  'rotate-device-credentials': 'We reset the credentials your devices use to connect to Hearth.',
  'rotate-kek': 'We replaced the master keys that protect the encrypted data.',
};

export const DEFAULT_MEASURE = 'We closed the gap that caused this and are checking our systems for others.';

/** The "What We Are Doing" lines for the response actions that have finished. */
export function noticeMeasures(actions: readonly ActionProgress[]): string[] {
  return actions.filter((action) => action.status === 'done').map((action) => ACTION_MEASURES[action.action]);
}

type Block =
  | { kind: 'title' | 'heading'; text: string }
  | { kind: 'list'; placeholder: ListPlaceholder }
  | { kind: 'item' | 'line'; text: string };

export class NoticeTemplate {
  private constructor(
    private readonly subject: string,
    private readonly body: string,
    private readonly layout: string,
  ) {}

  /** Reads and checks `incident-notice.txt`; throws NoticeTemplateError naming the problem. */
  static load(directory: string = DEFAULT_DIRECTORY): NoticeTemplate {
    const path = join(directory, NOTICE_FILE);
    let source: string;
    try {
      source = readFileSync(path, 'utf8');
    } catch (error) {
      throw new NoticeTemplateError(`The breach notice template ${path} cannot be read`, { cause: error });
    }
    return NoticeTemplate.parse(source, path);
  }

  /** Checks a template's text (e.g. a draft an operator is editing). */
  static parse(source: string, origin = NOTICE_FILE): NoticeTemplate {
    const text = source.replace(/\r\n/g, '\n');
    const subjectLine = /^Subject:[ \t]*(.*)\n/.exec(text);
    if (!subjectLine || !subjectLine[1]?.trim()) {
      throw new NoticeTemplateError(`${origin}: the first line must be "Subject: <the subject>"`);
    }
    const subject = subjectLine[1].trim();
    const body = text.slice(subjectLine[0].length).replace(/^\n+/, '');
    text.split('\n').forEach((line, index) => checkPlaceholders(line, index + 1, origin));
    const used = new Set([...text.matchAll(PLACEHOLDER)].map((match) => match[1] as string));
    const missing = REQUIRED_PLACEHOLDERS.filter((name) => !used.has(name));
    if (missing.length > 0) {
      throw new NoticeTemplateError(`${origin}: the notice must use {{${missing.join('}}, {{')}}}`);
    }
    const headingLines = body.split('\n').map((line) => line.trim());
    let previous = -1;
    for (const heading of NOTICE_HEADINGS) {
      const at = headingLines.indexOf(heading);
      if (at < 0) {
        throw new NoticeTemplateError(
          `${origin}: the heading "${heading}" is missing (each heading must be a line of its own, spelled exactly)`,
        );
      }
      if (at < previous) {
        throw new NoticeTemplateError(
          `${origin}: the headings must come in this order: ${NOTICE_HEADINGS.join(', ')}`,
        );
      }
      previous = at;
    }
    return new NoticeTemplate(subject, body, readFileSync(LAYOUT, 'utf8'));
  }

  render(vars: NoticeVars): RenderedMail {
    // A subject is a header: a value must not be able to add lines to it.
    const subject = this.subject.replace(PLACEHOLDER, (_, name: string) =>
      inline(vars, name).replace(/\s+/g, ' ').trim(),
    );
    return { subject, text: this.text(vars), html: this.html(vars, subject) };
  }

  private text(vars: NoticeVars): string {
    const lines = this.body.split('\n').flatMap((line) => {
      const list = LIST_LINE.exec(line)?.[1] as ListPlaceholder | undefined;
      if (list) return vars[list].map((entry) => `- ${entry}`);
      return [line.replace(PLACEHOLDER, (_, name: string) => inline(vars, name))];
    });
    return `${lines.join('\n').trimEnd()}\n`;
  }

  private html(vars: NoticeVars, subject: string): string {
    const out: string[] = [];
    let paragraph: string[] = [];
    let items: string[] = [];
    const flush = () => {
      if (paragraph.length > 0) out.push(`<p>${paragraph.join('<br>\n')}</p>`);
      if (items.length > 0) out.push(`<ul>\n${items.map((item) => `<li>${item}</li>`).join('\n')}\n</ul>`);
      paragraph = [];
      items = [];
    };
    // Structure comes from the template's own lines, before filling: a value cannot forge a heading.
    for (const block of blocksOf(this.body)) {
      if (block.kind === 'title' || block.kind === 'heading') {
        flush();
        const tag = block.kind === 'title' ? 'h1' : 'h2';
        out.push(`<${tag}>${escapeHtml(block.text)}</${tag}>`);
      } else if (block.kind === 'list') {
        if (paragraph.length > 0) flush();
        items.push(...vars[block.placeholder].map(escapeHtml));
      } else if (block.kind === 'item') {
        if (paragraph.length > 0) flush();
        items.push(fillHtml(block.text, vars));
      } else if (block.text === '') {
        flush();
      } else {
        if (items.length > 0) flush();
        paragraph.push(fillHtml(block.text, vars));
      }
    }
    flush();
    return this.layout.replace('{{subject}}', escapeHtml(subject)).replace('{{body}}', () => out.join('\n'));
  }
}

function checkPlaceholders(line: string, lineNumber: number, origin: string): void {
  for (const match of line.matchAll(PLACEHOLDER)) {
    const name = match[1] as string;
    if (!KNOWN.has(name)) {
      throw new NoticeTemplateError(
        `${origin} line ${lineNumber}: unknown placeholder {{${name}}}; known: ${[...KNOWN].join(', ')}`,
      );
    }
    if ((LIST_PLACEHOLDERS as readonly string[]).includes(name) && lineNumber === 1) {
      throw new NoticeTemplateError(`${origin}: {{${name}}} is a list and cannot be in the subject`);
    }
  }
  const rest = line.replace(PLACEHOLDER, '');
  if (rest.includes('{{') || rest.includes('}}')) {
    throw new NoticeTemplateError(
      `${origin} line ${lineNumber}: a placeholder is malformed; write it as {{name}}`,
    );
  }
}

function blocksOf(body: string): Block[] {
  return body.split('\n').map((raw): Block => {
    const line = raw.trim();
    const list = LIST_LINE.exec(line)?.[1] as ListPlaceholder | undefined;
    if (list) return { kind: 'list', placeholder: list };
    if (line === NOTICE_TITLE) return { kind: 'title', text: line };
    if ((NOTICE_HEADINGS as readonly string[]).includes(line)) return { kind: 'heading', text: line };
    if (line.startsWith('- ')) return { kind: 'item', text: line.slice(2) };
    return { kind: 'line', text: line };
  });
}

/** Placeholders whose whole value is an address to follow: the reset page, and the contact point. */
const LINKED_PLACEHOLDERS = new Set(['resetLink', 'contact']);

/**
 * A web address or an e-mail address as a link a mail client opens; anything else (a contact given as a
 * phone number or a postal address) as plain text.
 */
function linkHtml(value: string): string {
  const address = value.trim();
  const href = /^https?:\/\/\S+$/i.test(address)
    ? address
    : /^[^\s@<>"]+@[^\s@<>"]+$/.test(address)
      ? `mailto:${address}`
      : undefined;
  return href
    ? `<a href="${escapeHtml(href)}">${escapeHtml(address)}</a>`
    : escapeHtml(value).replace(/\n/g, '<br>\n');
}

/** A list used inside a sentence reads as one; multi-line text stays as written. */
function inline(vars: NoticeVars, name: string): string {
  const value = vars[name as keyof NoticeVars];
  return typeof value === 'string' ? value : value.join(' ');
}

function fillHtml(line: string, vars: NoticeVars): string {
  let html = '';
  let last = 0;
  for (const match of line.matchAll(PLACEHOLDER)) {
    html += escapeHtml(line.slice(last, match.index));
    const name = match[1] as string;
    const value = inline(vars, name);
    html += LINKED_PLACEHOLDERS.has(name) ? linkHtml(value) : escapeHtml(value).replace(/\n/g, '<br>\n');
    last = match.index + match[0].length;
  }
  return html + escapeHtml(line.slice(last));
}
