import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MAIL_TEMPLATES, type MailTemplateName, MailTemplates } from '../../src/mail/templates.js';

const templates = new MailTemplates();
const link = 'https://hearth.example/verify?token=hth_vfy_abc';

function sampleData(name: MailTemplateName): Record<string, string | number> {
  const values: Record<string, string | number> = {
    name: 'Ada',
    link,
    expiresInMinutes: 30,
    inviterName: 'Olivia',
    homeName: 'Lake house',
    role: 'member',
    token: 'hth_inv_abc',
  };
  return Object.fromEntries(MAIL_TEMPLATES[name].map((key) => [key, values[key] as string | number]));
}

describe('mail templates', () => {
  it.each(Object.keys(MAIL_TEMPLATES) as MailTemplateName[])(
    '%s renders a subject, text and HTML',
    (name) => {
      const mail = templates.render(name, sampleData(name) as never);
      expect(mail.subject.length).toBeGreaterThan(5);
      expect(mail.subject).not.toContain('{{');
      // An invitation may reach someone without an account, whose name nobody knows yet.
      const greeting = MAIL_TEMPLATES[name].includes('name' as never) ? 'Hello Ada,' : 'Hello,';
      expect(mail.text).toContain(greeting);
      expect(mail.html).toContain(`<p>${greeting}</p>`);
      expect(mail.html).toContain(`<title>${mail.subject}</title>`);
      for (const part of [mail.text, mail.html]) expect(part).not.toMatch(/\{\{|\}\}/);
      if (MAIL_TEMPLATES[name].includes('link' as never)) {
        expect(mail.text).toContain(link);
        expect(mail.html).toContain(`href="${link}"`);
      }
    },
  );

  it('escapes values in the HTML version only', () => {
    const mail = templates.render('password-reset', {
      name: '<script>alert("x")</script> & Co',
      link: 'https://hearth.example/reset?a=1&b="2"',
      expiresInMinutes: 30,
    });
    expect(mail.html).not.toContain('<script>');
    expect(mail.html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co');
    expect(mail.html).toContain('href="https://hearth.example/reset?a=1&amp;b=&quot;2&quot;"');
    expect(mail.text).toContain('Hello <script>alert("x")</script> & Co,');
    expect(mail.text).toContain('within 30 minutes');
  });

  it('throws on a missing or unexpected variable, naming the variables but never a value', () => {
    expect(() => templates.render('verify-email', { name: 'Ada' } as never)).toThrow(
      'Mail template verify-email takes name, link; missing link',
    );
    expect(() =>
      templates.render('email-changed', { name: 'Ada', email: 'ada@example.com' } as never),
    ).toThrow(/unexpected email$/);
    expect(() =>
      templates.render('email-changed', { name: 'Ada', email: 'ada@example.com' } as never),
    ).not.toThrow(/ada@example/);
    expect(() => templates.render('nope' as MailTemplateName, {} as never)).toThrow(
      'There is no mail template nope',
    );
    expect(() => templates.render('verify-email', { name: 'Ada', link: { href: link } } as never)).toThrow(
      'link must be a string or a number',
    );
  });

  it('accepts only complete http(s) links', () => {
    expect(() => templates.render('verify-email', { name: 'Ada', link: 'javascript:alert(1)' })).toThrow(
      'link must be a complete http(s) URL',
    );
    expect(() => templates.render('verify-email', { name: 'Ada', link: '/verify?x' })).toThrow(/http\(s\)/);
  });

  it('refuses at load a template whose placeholders differ from its declaration', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'hearth-templates-'));
    try {
      await cp(fileURLToPath(new URL('../../src/mail/templates/', import.meta.url)), dir, {
        recursive: true,
      });
      const file = path.join(dir, 'verify-email.html');
      await writeFile(file, (await readFile(file, 'utf8')).replace('{{name}}', '{{email}}'));
      expect(() => new MailTemplates(pathToFileURL(`${dir}/`))).toThrow(
        'Mail template verify-email uses {{email}}, {{link}}, {{name}} but declares name, link',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
