/**
 * `fixpay definitions …`: validate, compile, graph and test service definitions without a server;
 * deploy, list, promote and roll back versions in the registry (database).
 */
import { randomUUID } from 'node:crypto';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../../config';
import { openDatabase } from '../../infra/database';
import { defaultCatalogue } from '../../services/catalogue/entries';
import { formatDiagnostic } from '../../services/compiler/diagnostics';
import { planToMermaid } from '../../services/compiler/graph';
import { compileFiles, definitionFiles } from '../../services/compiler/load';
import type { LoadedDefinition } from '../../services/compiler/load';
import { canonicalJson } from '../../services/plan/hash';
import { PrismaDefinitionStore } from '../../services/registry/prisma-store';
import { Registry } from '../../services/registry/registry';
import { runDefinitionTests, runFaultMatrix } from '../../services/testing/run-tests';
import { commandGroup } from '../main';

const DEFAULT_DIR = 'definitions';

/** Expands files and folders; compiles them with their folders' other definitions for subflows. */
function load(paths: readonly string[]): LoadedDefinition[] {
  const wanted = new Set<string>();
  const all = new Set<string>();
  for (const p of paths.length === 0 ? [DEFAULT_DIR] : paths) {
    const abs = resolve(p);
    if (!existsSync(abs)) throw new Error(`no such file or folder: ${p}`);
    const files = statSync(abs).isDirectory() ? definitionFiles(abs) : [abs];
    for (const f of files) {
      wanted.add(f);
      for (const sibling of definitionFiles(dirname(f))) all.add(sibling);
    }
  }
  // Checked against the queue this platform's central worker serves (FIXPAY_TEMPORAL_TASK_QUEUE).
  const servedTaskQueues = [loadConfig().temporal.taskQueue];
  return compileFiles([...all], defaultCatalogue(), { servedTaskQueues }).filter((d) => wanted.has(d.file));
}

function report(defs: readonly LoadedDefinition[]): boolean {
  let ok = true;
  for (const d of defs) {
    if (d.ok) continue;
    ok = false;
    for (const diag of d.diagnostics) process.stderr.write(`${formatDiagnostic(diag)}\n`);
  }
  return ok;
}

function single(path: string): LoadedDefinition & { plan: NonNullable<LoadedDefinition['plan']>; planHash: string } {
  const [d] = load([path]);
  if (d === undefined) throw new Error(`no definition in ${path}`);
  if (!report([d]) || d.plan === null || d.planHash === null) {
    process.exitCode = 1;
    throw new Error(`${path} does not compile`);
  }
  return { ...d, plan: d.plan, planHash: d.planHash };
}

async function withRegistry<T>(fn: (registry: Registry) => Promise<T>): Promise<T> {
  const db = await openDatabase(loadConfig());
  try {
    return await fn(new Registry(new PrismaDefinitionStore(db.prisma)));
  } finally {
    await db.close();
  }
}

export function register(program: Command): void {
  const g = commandGroup(
    program,
    'definitions',
    'service definitions (YAML → checked plan → Temporal): validate, compile, graph, test, deploy, list, promote, rollback',
  );

  g.command('validate')
    .argument('[paths...]', 'definition files or folders', [DEFAULT_DIR])
    .description('check definitions; prints file:line:column FP20xx for every refusal, exit 1 if any')
    .action((paths: string[]) => {
      const defs = load(paths);
      const ok = report(defs);
      for (const d of defs) if (d.ok) process.stdout.write(`ok  ${d.file} ${d.serviceId} ${d.planHash ?? ''}\n`);
      if (!ok) process.exitCode = 1;
    });

  g.command('compile')
    .argument('<file>', 'one definition')
    .option('-o, --out <file>', 'write the plan JSON here instead of stdout')
    .description('print the canonical plan (pure JSON) and its sha256 hash')
    .action((file: string, opts: { out?: string }) => {
      const d = single(file);
      const json = `${JSON.stringify(JSON.parse(canonicalJson(d.plan)), null, 2)}\n`;
      if (opts.out === undefined) process.stdout.write(json);
      else writeFileSync(opts.out, json);
      process.stderr.write(
        `${d.plan.serviceId}@${d.plan.version} ${d.planHash} (~${d.plan.estimate.historyEvents} history events)\n`,
      );
    });

  g.command('graph')
    .argument('<file>', 'one definition')
    .description('print the plan as a Mermaid flowchart (compensations dashed, pivot marked)')
    .action((file: string) => {
      process.stdout.write(planToMermaid(single(file).plan));
    });

  g.command('test')
    .argument('[paths...]', 'definition files or folders', [DEFAULT_DIR])
    .option('--no-fault-matrix', 'run only the tests: blocks')
    .description("run each definition's tests: block and a generated fault matrix on a fake runtime (no server)")
    .action(async (paths: string[], opts: { faultMatrix: boolean }) => {
      const defs = load(paths);
      let ok = report(defs);
      let passed = 0;
      let failed = 0;
      const catalogue = defaultCatalogue();
      for (const d of defs) {
        if (d.plan === null || d.planHash === null) continue;
        const reports = opts.faultMatrix
          ? [
              ...(await runDefinitionTests(d.plan, d.planHash, d.tests, catalogue)),
              ...(await runFaultMatrix(d.plan, d.planHash, d.tests, catalogue)),
            ]
          : await runDefinitionTests(d.plan, d.planHash, d.tests, catalogue);
        if (d.tests.length === 0) process.stdout.write(`warn ${d.serviceId}: no tests\n`);
        for (const r of reports) {
          if (r.passed) passed++;
          else failed++;
          process.stdout.write(`${r.passed ? 'pass' : 'FAIL'} ${d.serviceId}: ${r.name}\n`);
          for (const p of r.problems) process.stdout.write(`       ${p}\n`);
        }
      }
      const refused = defs.filter((d) => d.plan === null).length;
      process.stdout.write(
        `${passed} passed, ${failed} failed, ${defs.length} definitions${refused > 0 ? `, ${refused} refused by the compiler (above)` : ''}\n`,
      );
      if (failed > 0) ok = false;
      if (!ok) process.exitCode = 1;
    });

  g.command('deploy')
    .argument('<file>', 'one definition')
    .requiredOption('--author <name>', 'who deploys (recorded)')
    .option('--promote', 'make it live right away')
    .option('--canary <percent>', 'route this percentage of business keys to it')
    .description('store the compiled version in the registry (no restart needed: new runs pick it up)')
    .action(async (file: string, opts: { author: string; promote?: boolean; canary?: string }) => {
      const d = single(file);
      await withRegistry(async (registry) => {
        const rec = await registry.deploy(d.plan, d.planHash, opts.author, randomUUID());
        process.stdout.write(`deployed ${rec.serviceId}@${rec.version} ${rec.planHash}\n`);
        if (opts.canary !== undefined) await registry.promote(rec.serviceId, rec.version, Number(opts.canary));
        else if (opts.promote === true) await registry.promote(rec.serviceId, rec.version);
      });
    });

  g.command('list')
    .argument('[serviceId]', 'only this service')
    .description('list deployed versions with status, hash and author')
    .action(async (serviceId: string | undefined) => {
      await withRegistry(async (registry) => {
        for (const d of await registry.list(serviceId))
          process.stdout.write(
            `${d.serviceId}@${d.version}\t${d.status}\t${d.planHash}\t${d.author}\t${d.createdAt.toISOString()}\n`,
          );
      });
    });

  g.command('promote')
    .argument('<serviceId>')
    .argument('<version>')
    .option('--canary <percent>', 'route only this percentage of business keys (stable by key)')
    .description('make a version live, or a canary')
    .action(async (serviceId: string, version: string, opts: { canary?: string }) => {
      await withRegistry(async (registry) => {
        await registry.promote(serviceId, version, opts.canary === undefined ? undefined : Number(opts.canary));
        process.stdout.write(
          `${serviceId}@${version} ${opts.canary === undefined ? 'live' : `canary ${opts.canary}%`}\n`,
        );
      });
    });

  g.command('rollback')
    .argument('<serviceId>')
    .description('put the previous live version back and drop any canary')
    .action(async (serviceId: string) => {
      await withRegistry(async (registry) => {
        process.stdout.write(`${serviceId} live again at ${await registry.rollback(serviceId)}\n`);
      });
    });
}
