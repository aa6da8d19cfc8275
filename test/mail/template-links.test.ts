import { describe, expect, it } from 'vitest';
import { NoticeTemplate, type NoticeVars } from '../../src/incidents/notice-template.js';
import { MAIL_TEMPLATES, type MailTemplateName, MailTemplates } from '../../src/mail/templates.js';

const templates = new MailTemplates();
/** A link with characters HTML must escape, as a reset or invitation link with a query could carry. */
const link = 'https://hearth.example/verify?token=hth_vfy_abc&next="home"';
const escapedLink = 'https://hearth.example/verify?token=hth_vfy_abc&amp;next=&quot;home&quot;';

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

/** The HTML with every `<a …>…</a>` taken out: what is left is text a mail client would not open. */
function outsideLinks(html: string): string {
  return html.replace(/<a\s[^>]*>[\s\S]*?<\/a>/g, '');
}

function anchors(html: string): Array<{ href: string; text: string }> {
  return [...html.matchAll(/<a href="([^"]*)">([\s\S]*?)<\/a>/g)].map((match) => ({
    href: match[1] as string,
    text: match[2] as string,
  }));
}

describe('links in HTML mail', () => {
  const withLink = (Object.keys(MAIL_TEMPLATES) as MailTemplateName[]).filter((name) =>
    MAIL_TEMPLATES[name].includes('link' as never),
  );

  it.each(withLink)('%s: every address shown is a link, escaped; the text part keeps it plain', (name) => {
    const mail = templates.render(name, sampleData(name) as never);
    expect(outsideLinks(mail.html)).not.toMatch(/https?:|hearth\.example/);
    const links = anchors(mail.html);
    expect(links.length).toBeGreaterThanOrEqual(2);
    for (const anchor of links) expect(anchor.href).toBe(escapedLink);
    // The address copied from the page is the link itself.
    expect(links.some((anchor) => anchor.text === escapedLink)).toBe(true);
    expect(mail.text).toContain(link);
    expect(mail.text).not.toContain('<a');
    expect(mail.text).not.toContain('&amp;');
  });

  it.each((Object.keys(MAIL_TEMPLATES) as MailTemplateName[]).filter((name) => !withLink.includes(name)))(
    '%s: has no address left unlinked',
    (name) => {
      const mail = templates.render(name, sampleData(name) as never);
      expect(outsideLinks(mail.html)).not.toMatch(/https?:\/\/|mailto:/);
    },
  );
});

describe('links in the HTML breach notice', () => {
  const vars = (contact: string): NoticeVars => ({
    name: 'Ada',
    title: 'Backup readable',
    whatHappened: 'A nightly backup was readable from the internet.',
    exposureFrom: '3 March 2026',
    exposureTo: '4 March 2026',
    detectedAt: '5 March 2026',
    resetLink: 'https://hearth.example/reset-password?from=notice&x="1"',
    contact,
    involved: ['Your e-mail address'],
    measures: ['We ended every session.'],
  });

  it('links the reset page and an e-mail contact, escaped; the text part keeps them plain', () => {
    const notice = NoticeTemplate.load().render(vars('privacy@hearth.example'));
    const reset = 'https://hearth.example/reset-password?from=notice&amp;x=&quot;1&quot;';
    expect(notice.html).toContain(`Use this link: <a href="${reset}">${reset}</a>`);
    expect(notice.html).toContain(
      'write to us at <a href="mailto:privacy@hearth.example">privacy@hearth.example</a>.',
    );
    expect(outsideLinks(notice.html)).not.toMatch(/https?:|hearth\.example/);
    expect(notice.text).toContain('Use this link: https://hearth.example/reset-password?from=notice&x="1"\n');
    expect(notice.text).toContain('write to us at privacy@hearth.example.');
    expect(notice.text).not.toContain('<a');
  });

  it('links a web contact page, and leaves a contact that is neither plain text', () => {
    const web = NoticeTemplate.load().render(vars('https://hearth.example/privacy'));
    expect(web.html).toContain(
      'write to us at <a href="https://hearth.example/privacy">https://hearth.example/privacy</a>.',
    );
    const postal = NoticeTemplate.load().render(vars('Privacy team, 1 <Main> Street'));
    expect(postal.html).toContain('write to us at Privacy team, 1 &lt;Main&gt; Street.');
    expect(anchors(postal.html).map((anchor) => anchor.href)).toEqual([
      'https://hearth.example/reset-password?from=notice&amp;x=&quot;1&quot;',
    ]);
  });
});
