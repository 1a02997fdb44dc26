/** `fixpay doctor`: checks what the platform needs and says how to fix what is wrong. */
import type { Command } from 'commander';
import { createServer } from 'node:net';
import { Client } from 'pg';
import { Connection } from '@temporalio/client';
import { loadConfig, processEnv, type Config } from '../../config';
import { cachedCliPath, findTemporalCli, whichSync } from '../../infra/temporal';

export interface Finding {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
  /** How to fix it, when not ok. */
  readonly fix?: string;
}

function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

async function temporalAnswers(address: string): Promise<boolean> {
  try {
    const c = await Connection.connect({ address, connectTimeout: 1500 });
    try {
      await c.workflowService.getSystemInfo({});
      return true;
    } finally {
      await c.close();
    }
  } catch {
    return false;
  }
}

async function postgresAnswers(url: string): Promise<boolean> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 1500 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function fixpayApiAnswers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1500) });
    const body = (await res.json()) as { checks?: unknown };
    return typeof body.checks === 'object';
  } catch {
    return false;
  }
}

/** Runs every check. Ports that are taken are fine when the platform itself answers on them. */
export async function diagnose(config: Config): Promise<Finding[]> {
  const findings: Finding[] = [];
  const major = Number(process.versions.node.split('.')[0]);
  findings.push({
    name: 'Node.js',
    ok: major >= 22,
    detail: process.version,
    fix: 'run fixpay through npm (npm start, npm run fixpay -- …): npm ci installs Node 24 for the project',
  });

  const t = config.temporal;
  if (t.embedded) {
    let cli: ReturnType<typeof findTemporalCli>;
    try {
      cli = findTemporalCli(t, processEnv()['PATH']);
    } catch (e) {
      cli = undefined;
      findings.push({
        name: 'Temporal CLI',
        ok: false,
        detail: e instanceof Error ? e.message : String(e),
        fix: 'fix or unset FIXPAY_TEMPORAL_CLI',
      });
    }
    if (cli?.kind === 'binary')
      findings.push({ name: 'Temporal CLI', ok: true, detail: `${cli.path} (${cli.source})` });
    else if (cli === undefined && !findings.some((f) => f.name === 'Temporal CLI')) {
      const go = whichSync('go', processEnv()['PATH']) !== undefined;
      findings.push({
        name: 'Temporal CLI',
        ok: false,
        detail: `not found (FIXPAY_TEMPORAL_CLI, PATH, ${cachedCliPath(t)})`,
        fix: go
          ? 'run `npm run fixpay -- temporal install` (builds it with Go, about 4 minutes the first time)'
          : 'install Go 1.25+ and run `npm run fixpay -- temporal install`, or set FIXPAY_TEMPORAL_CLI to a temporal binary',
      });
    }
  }
  const address = `${t.host}:${t.port}`;
  const temporalUp = await temporalAnswers(address);
  if (!t.embedded) {
    findings.push({
      name: 'Temporal server',
      ok: temporalUp,
      detail: address,
      fix: `start a Temporal server at ${address} or unset FIXPAY_TEMPORAL_EMBEDDED`,
    });
  }

  const db = config.database;
  if (db.url !== undefined) {
    const client = new Client({ connectionString: db.url, connectionTimeoutMillis: 3000 });
    let detail: string;
    let ok = true;
    try {
      await client.connect();
      const r = await client.query<{ v: string }>("SELECT current_setting('server_version') AS v");
      detail = `PostgreSQL ${r.rows[0]?.v ?? '?'}`;
    } catch (e) {
      ok = false;
      detail = e instanceof Error ? e.message : String(e);
    } finally {
      await client.end().catch(() => undefined);
    }
    findings.push({ name: 'Database', ok, detail, fix: 'check DATABASE_URL, or unset it to use the embedded PGlite' });
  } else {
    findings.push({ name: 'Database', ok: true, detail: `embedded PGlite under ${config.dataDir}/pglite` });
  }

  if (t.embedded && temporalUp) findings.push({ name: 'Temporal server', ok: true, detail: `running at ${address}` });

  // A taken port is fine when a running fixpay is what answers on it.
  const ports: [string, string, number, boolean, () => Promise<boolean>][] = [
    ['Temporal gRPC port', t.host, t.port, t.embedded && !temporalUp, () => Promise.resolve(false)],
    ['Temporal UI port', t.host, t.uiPort, t.embedded && !temporalUp, () => Promise.resolve(false)],
    [
      'Database port',
      db.embeddedHost,
      db.embeddedPort,
      db.url === undefined,
      () => postgresAnswers(`postgresql://postgres@${db.embeddedHost}:${db.embeddedPort}/postgres`),
    ],
    [
      'API port',
      config.api.host,
      config.api.port,
      true,
      () => fixpayApiAnswers(`http://${config.api.host}:${config.api.port}/health`),
    ],
    // While fixpay runs, its API answers: then the access node and codec ports are ours too.
    [
      'Access node TCP PCM',
      config.access.host,
      config.access.tcpPcmPort,
      true,
      () => fixpayApiAnswers(`http://${config.api.host}:${config.api.port}/health`),
    ],
    [
      'Codec endpoint port',
      t.host,
      config.security.codecPort,
      true,
      () => fixpayApiAnswers(`http://${config.api.host}:${config.api.port}/health`),
    ],
  ];
  for (const [name, host, port, needed, ours] of ports) {
    if (!needed) continue;
    const free = await portFree(host, port);
    const running = !free && (await ours());
    findings.push({
      name,
      ok: free || running,
      detail: `${host}:${port} ${free ? 'free' : running ? 'in use by the running fixpay' : 'in use'}`,
      fix: 'stop what uses it or choose another port (docs/configuration.md)',
    });
  }
  return findings;
}

export function register(program: Command): void {
  program
    .command('doctor')
    .description('check Node, the Temporal CLI, the database and free ports, and say how to fix what is wrong')
    .option('--json', 'print the findings as JSON')
    .action(async (opts: { json?: boolean }) => {
      let findings: Finding[];
      try {
        findings = await diagnose(loadConfig());
      } catch (e) {
        findings = [
          {
            name: 'Configuration',
            ok: false,
            detail: e instanceof Error ? e.message : String(e),
            fix: 'see docs/configuration.md',
          },
        ];
      }
      if (opts.json === true) console.log(JSON.stringify(findings, null, 2));
      else {
        for (const f of findings) {
          console.log(`${f.ok ? '✔' : '✖'} ${f.name.padEnd(20)} ${f.detail}`);
          if (!f.ok && f.fix !== undefined) console.log(`  → ${f.fix}`);
        }
        const bad = findings.filter((f) => !f.ok).length;
        console.log(bad === 0 ? '\nall green' : `\n${bad} problem${bad === 1 ? '' : 's'}`);
      }
      if (findings.some((f) => !f.ok)) process.exitCode = 1;
    });
}
