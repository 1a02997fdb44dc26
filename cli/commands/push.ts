/**
 * `fixpay push …`: information-push campaigns (docs/protocols/push.md, ADR 0021): check campaign
 * files, create or update their Temporal Schedules, and report where a campaign stands (delivered / failed / pending) from the database.
 */
import type { Command } from 'commander';
import { loadConfig } from '../../config';
import { PrismaPushStore } from '../../core/push-store';
import type { PushReport } from '../../domain/push';
import { openDatabase } from '../../infra/database';
import type { CampaignSpec } from '../../services/campaigns/campaign';
import { loadCampaigns } from '../../services/campaigns/load';
import { Client, Connection } from '@temporalio/client';
import { createDataConverter } from '../../codec/data-converter';
import { codecKeysFromText } from '../../codec/payload-codec';
import { loadSecrets } from '../../infra/secrets';
import { temporalTls } from '../../infra/temporal';
import { PUSH_TASK_QUEUE_PREFIX } from '../../channel-engine/push/line-activities';
import { campaignScheduleId, scheduleCampaign } from '../../worker/push-schedules';
import { commandGroup } from '../main';

export const CAMPAIGNS_DIR = 'campaigns';

/** Checks every file; prints `ok` lines to `print`, refusals (code and reason) to `fail`. */
export function validateCampaigns(
  paths: readonly string[],
  print: (line: string) => void,
  fail: (line: string) => void,
): CampaignSpec[] | undefined {
  const { specs, refused } = loadCampaigns(paths);
  for (const s of specs) print(`ok  ${s.file} ${s.spec.id}`);
  refused.forEach(fail);
  return refused.length === 0 ? specs.map((s) => s.spec) : undefined;
}

export function formatReport(r: PushReport): string {
  return (
    `campaign ${r.campaignId}: delivered ${r.delivered} (${r.deliveredAtNextCall} at the next call, ${r.deliveredInCall} in a call), ` +
    `failed ${r.failed}, pending ${r.pending}`
  );
}

export function register(program: Command): void {
  const g = commandGroup(
    program,
    'push',
    'information-push campaigns: validate campaign files, schedule them on Temporal, report delivery',
  );

  g.command('validate')
    .argument('[paths...]', 'campaign files or folders', [CAMPAIGNS_DIR])
    .description('check campaign files against the campaign schema and the text rules; exit 1 on any refusal')
    .action((paths: string[]) => {
      const specs = validateCampaigns(
        paths,
        (l) => process.stdout.write(`${l}\n`),
        (l) => process.stderr.write(`${l}\n`),
      );
      if (specs === undefined) process.exitCode = 1;
    });

  g.command('schedule')
    .argument('[paths...]', 'campaign files or folders', [CAMPAIGNS_DIR])
    .option('--node <nodeId>', 'the access node whose push queue places the calls (default: access.nodeId)')
    .description(
      'create or update each campaign’s Temporal Schedule push:<id> (overlap policy, catch-up window of minutes); ' +
        'nothing is scheduled when any file is refused',
    )
    .action(async (paths: string[], opts: { node?: string }) => {
      const specs = validateCampaigns(
        paths,
        () => undefined,
        (l) => process.stderr.write(`${l}\n`),
      );
      if (specs === undefined) {
        process.exitCode = 1;
        return;
      }
      const config = loadConfig();
      const secrets = loadSecrets(config.security, { generate: false });
      const tls = temporalTls(config.temporal);
      const address = `${config.temporal.host}:${config.temporal.port}`;
      const connection = await Connection.connect(tls === undefined ? { address } : { address, tls });
      try {
        const client = new Client({
          connection,
          namespace: config.temporal.namespace,
          dataConverter: createDataConverter(codecKeysFromText(secrets.codecKeys)),
        });
        const pushTaskQueue = `${PUSH_TASK_QUEUE_PREFIX}${opts.node ?? config.access.nodeId}`;
        for (const spec of specs) {
          await scheduleCampaign(client, spec, { taskQueue: config.temporal.taskQueue, pushTaskQueue });
          process.stdout.write(
            `scheduled ${campaignScheduleId(spec.id)} on ${pushTaskQueue}${spec.schedule.paused ? ' (paused)' : ''}\n`,
          );
        }
      } finally {
        await connection.close();
      }
    });

  g.command('report')
    .argument('<campaignId>', 'the campaign id')
    .option('--json', 'print JSON')
    .description('delivered, failed and pending pushes of a campaign over all its runs')
    .action(async (campaignId: string, opts: { json?: boolean }) => {
      if (!/^[a-z0-9][a-z0-9-]{1,47}$/.test(campaignId)) {
        process.stderr.write(`FP3703 not a campaign id: ${JSON.stringify(campaignId.slice(0, 60))}\n`);
        process.exitCode = 1;
        return;
      }
      const db = await openDatabase(loadConfig());
      try {
        const r = await new PrismaPushStore(db.prisma).report(campaignId);
        if (r.delivered + r.failed + r.pending === 0) {
          process.stderr.write(`FP3703 no pushes for campaign ${campaignId}\n`);
          process.exitCode = 1;
          return;
        }
        process.stdout.write(opts.json === true ? `${JSON.stringify(r)}\n` : `${formatReport(r)}\n`);
      } finally {
        await db.close();
      }
    });
}
