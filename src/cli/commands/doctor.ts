import type { Command } from 'commander';
import type { z } from 'zod';
import { noArgs, type Operation } from '../../control/operation.js';
import { DOCTOR_CHECKS } from '../../doctor/checks.js';
import { deploymentContext } from '../../doctor/context.js';
import type { DoctorReport } from '../../doctor/model.js';
import { runDoctor } from '../../doctor/model.js';
import { type CommandResult, jsonOption, runCommand } from '../runner.js';

export const doctor: Operation<z.infer<typeof noArgs>> = {
  name: 'doctor',
  needs: 'services',
  // Pending migrations are one of the findings: the doctor looks at the schema as it is.
  migrate: false,
  args: noArgs,
  async run(services, _args, context) {
    const report = await runDoctor(DOCTOR_CHECKS, deploymentContext(services), (check) =>
      context.progress(`Checking: ${check.title}`),
    );
    return { ok: report.ok, text: formatReport(report), data: { ...report } };
  },
};

/** One block per finding (severity, title, evidence, fix), a line per quiet check, and the totals. */
export function formatReport(report: DoctorReport): string {
  const lines: string[] = [];
  for (const check of report.checks) {
    if (check.findings.length === 0) {
      lines.push(`ok      ${check.title}`);
      continue;
    }
    for (const finding of check.findings) {
      lines.push(`${finding.severity.toUpperCase().padEnd(7)} ${finding.title} [${finding.id}]`);
      lines.push(`        evidence: ${finding.evidence}`);
      lines.push(`        fix: ${finding.fix}`);
    }
  }
  const { high, medium, low, info } = report.counts;
  lines.push(
    `${high} high, ${medium} medium, ${low} low, ${info} info: ${report.ok ? 'nothing high' : 'fix the high findings first'}`,
  );
  return lines.join('\n');
}

export function registerDoctorCommand(program: Command, result: CommandResult): void {
  program
    .command('doctor')
    .description(
      'Check the running deployment for exposure and weak settings; prints each finding with severity, evidence and the fix; exits 1 when one is high',
    )
    .addOption(jsonOption())
    .action(async (options: { json?: boolean }) => {
      result.exitCode = await runCommand(doctor, {}, options);
    });
}
