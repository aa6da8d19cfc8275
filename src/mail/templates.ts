import { readFileSync } from 'node:fs';

/**
 * Every template and the variables it takes, as data: the type of `enqueue` follows from it, and loading
 * checks that the files use exactly these placeholders. Each template is `<name>.txt` (a `Subject:` line, a
 * blank line, the plain-text body) and `<name>.html` (the body inside layout.html).
 */
export const MAIL_TEMPLATES = {
  'verify-email': ['name', 'link'],
  'email-change-verify': ['name', 'link'],
  'email-changed': ['name'],
  'signup-existing': ['name', 'link'],
  'password-reset': ['name', 'link', 'expiresInMinutes'],
  'password-changed': ['name'],
  'password-reset-completed': ['name'],
  'mfa-enabled': ['name'],
  'mfa-disabled': ['name'],
  'account-deleted': ['name'],
  'home-invitation': ['inviterName', 'homeName', 'role', 'link', 'token'],
  'home-member-removed': ['name', 'homeName'],
} as const satisfies Record<string, readonly string[]>;

export type MailTemplateName = keyof typeof MAIL_TEMPLATES;
export type MailTemplateData<N extends MailTemplateName> = Record<
  (typeof MAIL_TEMPLATES)[N][number],
  string | number
>;

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

/** A template used wrongly (unknown name, a missing or unexpected variable): a bug in the caller. */
export class MailTemplateError extends Error {
  override name = 'MailTemplateError';
}

const PLACEHOLDER = /\{\{\s*([A-Za-z][A-Za-z0-9]*)\s*\}\}/g;
const SUBJECT_LINE = /^Subject: (.+)\r?\n\r?\n/;

interface LoadedTemplate {
  subject: string;
  text: string;
  html: string;
}

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** For every value put into HTML mail (incident notices use it too). */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (char) => HTML_ESCAPES[char] as string);
}

function fill(template: string, values: Record<string, string>, escape: (value: string) => string): string {
  return template.replace(PLACEHOLDER, (_, key: string) => escape(values[key] as string));
}

function placeholders(...texts: string[]): Set<string> {
  return new Set(texts.flatMap((text) => [...text.matchAll(PLACEHOLDER)].map((match) => match[1] as string)));
}

const DEFAULT_DIRECTORY = new URL('./templates/', import.meta.url);

/** The templates, read and checked once at start-up so a broken file stops the service, not a request. */
export class MailTemplates {
  private readonly templates = new Map<MailTemplateName, LoadedTemplate>();
  private readonly layout: string;

  constructor(directory: URL = DEFAULT_DIRECTORY) {
    this.layout = readFileSync(new URL('layout.html', directory), 'utf8');
    for (const [name, variables] of Object.entries(MAIL_TEMPLATES) as [
      MailTemplateName,
      readonly string[],
    ][]) {
      const textFile = readFileSync(new URL(`${name}.txt`, directory), 'utf8');
      const subjectLine = SUBJECT_LINE.exec(textFile);
      if (!subjectLine)
        throw new MailTemplateError(`Mail template ${name}.txt must start with a Subject: line`);
      const template = {
        subject: (subjectLine[1] as string).trim(),
        text: textFile.slice(subjectLine[0].length),
        html: readFileSync(new URL(`${name}.html`, directory), 'utf8'),
      };
      const used = [...placeholders(template.subject, template.text, template.html)].sort();
      if (used.join() !== [...variables].sort().join()) {
        throw new MailTemplateError(
          `Mail template ${name} uses {{${used.join('}}, {{')}}} but declares ${variables.join(', ')}`,
        );
      }
      this.templates.set(name, template);
    }
  }

  /** Fills in a template; throws MailTemplateError on a missing or unexpected variable. */
  render<N extends MailTemplateName>(name: N, data: MailTemplateData<N>): RenderedMail {
    const template = this.templates.get(name);
    if (!template) throw new MailTemplateError(`There is no mail template ${String(name)}`);
    const values = checkData(name, data as Record<string, unknown>);
    // A subject is a header: a value must not be able to add lines to it.
    const subject = fill(template.subject, values, (value) => value.replace(/[\r\n]+/g, ' '));
    const body = fill(template.html, values, escapeHtml);
    return {
      subject,
      text: fill(template.text, values, (value) => value),
      html: fill(this.layout, { subject: escapeHtml(subject), body }, (value) => value),
    };
  }
}

function checkData(name: MailTemplateName, data: Record<string, unknown>): Record<string, string> {
  const expected: readonly string[] = MAIL_TEMPLATES[name];
  const given = Object.keys(data);
  const missing = expected.filter((key) => !given.includes(key));
  const unexpected = given.filter((key) => !expected.includes(key));
  // Names only: the values are personal data and must not reach an error message.
  if (missing.length > 0 || unexpected.length > 0) {
    throw new MailTemplateError(
      `Mail template ${name} takes ${expected.join(', ')}` +
        (missing.length > 0 ? `; missing ${missing.join(', ')}` : '') +
        (unexpected.length > 0 ? `; unexpected ${unexpected.join(', ')}` : ''),
    );
  }
  const values: Record<string, string> = {};
  for (const key of expected) {
    const value = data[key];
    if (typeof value !== 'string' && typeof value !== 'number') {
      throw new MailTemplateError(`Mail template ${name}: ${key} must be a string or a number`);
    }
    if (key === 'link' && !/^https?:\/\//.test(String(value))) {
      throw new MailTemplateError(`Mail template ${name}: link must be a complete http(s) URL`);
    }
    values[key] = String(value);
  }
  return values;
}
