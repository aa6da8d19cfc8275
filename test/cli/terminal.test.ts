import { afterEach, describe, expect, it, vi } from 'vitest';
import { createTerminal } from '../../src/cli/terminal.js';

/** What stdout and stderr wrote, in order, as one stream: a terminal shows both on the same screen. */
function captureOutput(): { written: () => string } {
  let written = '';
  const capture = (chunk: string | Uint8Array) => {
    written += String(chunk);
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(capture as typeof process.stdout.write);
  vi.spyOn(process.stderr, 'write').mockImplementation(capture as typeof process.stderr.write);
  return { written: () => written };
}

/** The lines a terminal shows for this output: `\r` returns to the line's start, ESC[K clears the rest. */
function screen(output: string): string[] {
  const lines: string[] = [''];
  let column = 0;
  for (let i = 0; i < output.length; i++) {
    const char = output[i];
    if (output.startsWith('\x1b[K', i)) {
      lines[lines.length - 1] = (lines.at(-1) as string).slice(0, column);
      i += 2;
    } else if (char === '\r') {
      column = 0;
    } else if (char === '\n') {
      lines.push('');
      column = 0;
    } else {
      const line = lines.at(-1) as string;
      lines[lines.length - 1] = line.slice(0, column) + char + line.slice(column + 1);
      column++;
    }
  }
  return lines;
}

function setStderrTty(value: boolean): void {
  Object.defineProperty(process.stderr, 'isTTY', { value, configurable: true });
}

const wasTty = process.stderr.isTTY;

describe('the CLI terminal', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    setStderrTty(wasTty);
  });

  const bar = (done: number) =>
    `\rend-sessions [${'#'.repeat(done * 2)}${'.'.repeat(24 - done * 2)}] ${Math.floor((done / 12) * 100)}% ${done}/12`;

  for (const tty of [true, false]) {
    it(`ends the progress bar's line before the summary (${tty ? 'a terminal' : 'a pipe'})`, () => {
      setStderrTty(tty);
      const output = captureOutput();
      const terminal = createTerminal({ json: false });
      terminal.progress(bar(6));
      terminal.progress(bar(12));
      const code = terminal.outcome({ ok: true, text: 'end-sessions  done  12/12', data: {} });
      expect(code).toBe(0);
      const shown = screen(output.written());
      expect(shown).toEqual([
        ...(tty ? [] : [bar(6).slice(1)]),
        bar(12).slice(1),
        'end-sessions  done  12/12',
        '',
      ]);
    });
  }

  it('ends the bar before an error line and before a note, on a terminal', () => {
    setStderrTty(true);
    const output = captureOutput();
    const terminal = createTerminal({ json: false });
    terminal.progress(bar(3));
    terminal.note('stopping at the next safe point');
    terminal.progress(bar(4));
    terminal.endProgress();
    terminal.error('Interrupted; run the command again to finish');
    expect(screen(output.written())).toEqual([
      bar(3).slice(1),
      '(stopping at the next safe point)',
      bar(4).slice(1),
      'hearth: Interrupted; run the command again to finish',
      '',
    ]);
  });

  it('prints --json results on a line of their own after a bar', () => {
    setStderrTty(true);
    const output = captureOutput();
    const terminal = createTerminal({ json: true });
    terminal.progress(bar(12));
    terminal.outcome({ ok: true, text: 'ignored', data: { done: 12 } });
    expect(screen(output.written())).toEqual([
      bar(12).slice(1),
      '{',
      '  "ok": true,',
      '  "done": 12',
      '}',
      '',
    ]);
  });
});
