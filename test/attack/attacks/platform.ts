/**
 * Attacks on the platform as a whole: the embedded database's authentication and file modes, the
 * worker running plans it was handed by hand, supervision of the Temporal server, and the strictness
 * of the ISO 8583 codec and the log masker (in process: no socket needed).
 */
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { Client as PgClient } from 'pg';
import { scrubText } from '../../../domain/masking';
import { MessageCodec, networkSpec, terminalSpec } from '../../../gateways/iso8583';
import type { FieldValue } from '../../../gateways/iso8583';
import { defaultCatalogue } from '../../../services/catalogue/entries';
import { compileDefinition } from '../../../services/compiler/compile';
import { planHash } from '../../../services/plan/hash';
import { INTERPRETER_WORKFLOW } from '../../../services/runtime/plan';
import { alive, prop, sleep } from '../support';
import { defect, inconclusive, refused } from '../types';
import type { Attack, Verdict } from '../types';

/** Files and folders under `dir` (at most `max`) whose mode lets group or others read or write. */
function exposed(dir: string, max = 5_000): string[] {
  const out: string[] = [];
  const walk = (path: string, depth: number): void => {
    if (out.length >= 20 || max-- <= 0 || depth > 8) return;
    let st;
    try {
      st = lstatSync(path);
    } catch {
      return;
    }
    if (st.isSymbolicLink()) return;
    if ((st.mode & 0o077) !== 0) out.push(`${path.slice(dir.length) || '/'} ${(st.mode & 0o777).toString(8)}`);
    if (st.isDirectory()) for (const e of readdirSync(path)) walk(join(path, e), depth + 1);
  };
  walk(dir, 0);
  return out;
}

const ROGUE_DEFINITION = `apiVersion: fixpay/v1
kind: Service
metadata: { id: attack-rogue, version: 1.0.0, title: Rogue, owner: attacker }
spec:
  businessKey: '\${input.x}'
  input:
    type: object
    required: [x]
    properties:
      x: { type: string }
  steps:
    - id: done
      set: { y: '\${input.x}' }
`;

export const platformAttacks: Attack[] = [
  {
    id: 'platform.db-any-password',
    target: 'platform',
    severity: 'medium',
    reported: 10,
    title: 'connect to the embedded database as postgres with a wrong password: must be refused',
    quick: true,
    timeoutMs: 15_000,
    async run(ctx): Promise<Verdict> {
      const client = new PgClient({
        host: '127.0.0.1',
        port: ctx.ports.db,
        user: 'postgres',
        password: 'certainly-not-the-password',
        database: 'postgres',
        connectionTimeoutMillis: 5_000,
      });
      client.on('error', () => undefined);
      try {
        await client.connect();
        const r = await client.query<{ su: boolean | string }>("SELECT current_setting('is_superuser') = 'on' AS su");
        return defect(`logged in with a wrong password${r.rows[0]?.su === true ? ' as superuser' : ''}`);
      } catch (e) {
        return refused(`refused: ${e instanceof Error ? e.message.slice(0, 80) : String(e)}`);
      } finally {
        await client.end().catch(() => undefined);
      }
    },
  },
  {
    id: 'platform.data-dir-modes',
    target: 'platform',
    severity: 'medium',
    reported: 10,
    title: 'the data folder and its files (database, temporal.sqlite, secrets) are 0700/0600',
    quick: true,
    timeoutMs: 10_000,
    run(ctx): Promise<Verdict> {
      const bad = exposed(join(ctx.dataDir, 'platform'));
      return Promise.resolve(
        bad.length > 0 ? defect(`group/other access: ${bad.slice(0, 6).join('; ')}`) : refused('all 0700/0600'),
      );
    },
  },
  {
    id: 'platform.unregistered-plan',
    target: 'platform',
    severity: 'high',
    reported: 5,
    title: 'start serviceInterpreter by hand on `services` with a plain-JSON plan in no registry: must not run',
    quick: true,
    timeoutMs: 40_000,
    async run(ctx): Promise<Verdict> {
      const compiled = compileDefinition(ROGUE_DEFINITION, 'rogue.yaml', { catalogue: defaultCatalogue() });
      if (!compiled.ok) return inconclusive('the rogue definition did not compile');
      const connection = await Connection.connect({
        address: `127.0.0.1:${ctx.ports.temporal}`,
        connectTimeout: 5_000,
      });
      try {
        const client = new Client({ connection }); // no data converter: plain JSON payloads
        const id = `attack-rogue-${Date.now()}`;
        const handle = await client.workflow.start(INTERPRETER_WORKFLOW, {
          taskQueue: 'services',
          workflowId: id,
          args: [{ plan: compiled.plan, planHash: planHash(compiled.plan), input: { x: 'pwned' } }],
          workflowExecutionTimeout: '60s',
        });
        // The status, not the result: a result the worker encrypted is unreadable here anyway.
        let status = 'RUNNING';
        const until = Date.now() + 20_000;
        while (status === 'RUNNING' && Date.now() < until) {
          await sleep(500);
          status = (await handle.describe()).status.name;
        }
        await handle.terminate('attack suite cleanup').catch(() => undefined);
        if (status === 'COMPLETED')
          return defect('the worker ran a plain-JSON plan that is in no registry to completion');
        return refused(`workflow ${status === 'RUNNING' ? 'never ran (20 s)' : status}`);
      } finally {
        await connection.close();
      }
    },
  },
  {
    id: 'platform.log-masker-overmasks',
    target: 'platform',
    severity: 'low',
    reported: 12,
    title: 'the log masker leaves a migration id 20261126030000 (not a card number) readable',
    quick: true,
    timeoutMs: 5_000,
    run(): Promise<Verdict> {
      const out = scrubText('migration 20261126030000_ledger applied');
      return Promise.resolve(
        out.includes('20261126030000') ? refused('left as is') : defect(`came out as ${JSON.stringify(out)}`),
      );
    },
  },
  {
    id: 'platform.iso-ans-c1-controls',
    target: 'platform',
    severity: 'low',
    reported: 12,
    title: 'the network ISO 8583 codec refuses C1 control bytes (0x80–0x9F) in an ans field',
    quick: true,
    timeoutMs: 5_000,
    run(): Promise<Verdict> {
      const codec = new MessageCodec(networkSpec);
      const fields = new Map<number, FieldValue>([
        [11, '000001'],
        [41, 'T0000001'],
        [42, 'M00000000000001'],
      ]);
      let packed: Buffer;
      try {
        packed = Buffer.from(codec.pack({ mti: '0800', fields }));
      } catch (e) {
        return Promise.resolve(inconclusive(`cannot pack a seed: ${String(e)}`));
      }
      const at = packed.indexOf('M00000000000001', 0, 'latin1');
      if (at < 0) return Promise.resolve(inconclusive('field 42 not found in the packed seed'));
      packed[at + 1] = 0x85;
      const r = codec.tryUnpack(packed);
      return Promise.resolve(
        r.ok ? defect('field 42 with byte 0x85 (NEL) unpacked without error') : refused('refused the C1 byte'),
      );
    },
  },
  {
    id: 'platform.iso-bcd-filler',
    target: 'platform',
    severity: 'low',
    reported: 12,
    title: 'the terminal ISO 8583 codec refuses a BCD right filler nibble other than 0 or F',
    quick: true,
    timeoutMs: 5_000,
    run(): Promise<Verdict> {
      const codec = new MessageCodec(terminalSpec);
      const pan = '6225880000000000001'; // test PAN, 19 digits: one filler nibble
      let packed: Buffer;
      try {
        packed = Buffer.from(
          codec.pack({
            mti: '0200',
            fields: new Map<number, FieldValue>([
              [2, pan],
              [3, '000000'],
              [11, '000001'],
            ]),
          }),
        );
      } catch (e) {
        return Promise.resolve(inconclusive(`cannot pack a seed: ${String(e)}`));
      }
      const at = packed.indexOf(Buffer.from('622588000000000000', 'hex'));
      if (at < 0) return Promise.resolve(inconclusive('field 2 not found in the packed seed'));
      const last = at + 9;
      packed[last] = ((packed[last] ?? 0) & 0xf0) | 0x05;
      const r = codec.tryUnpack(packed);
      return Promise.resolve(r.ok ? defect('a PAN with filler nibble 5 unpacked without error') : refused('refused'));
    },
  },
  {
    id: 'platform.temporal-killed-restarted',
    target: 'platform',
    severity: 'low',
    reported: 13,
    destructive: true,
    title: 'kill -9 the Temporal server: fixpay must restart it (health back within 30 s)',
    timeoutMs: 60_000,
    async run(ctx): Promise<Verdict> {
      const pid = ctx.temporalPid;
      if (pid === undefined || !alive(pid)) return inconclusive('no Temporal server child found');
      process.kill(pid, 'SIGKILL');
      const until = Date.now() + 30_000;
      while (Date.now() < until) {
        await sleep(1_000);
        const h = await ctx.health();
        if (prop(prop(h, 'checks'), 'temporal') === true) return refused('Temporal back and healthy');
      }
      return defect('the Temporal server stayed down for 30 s after a kill -9 (terminals get 96)');
    },
  },
  {
    id: 'platform.orphaned-temporal',
    target: 'platform',
    severity: 'low',
    reported: 13,
    destructive: true,
    title: 'kill -9 fixpay dev: its Temporal server must not stay behind to be adopted silently by the next start',
    timeoutMs: 200_000,
    async run(ctx): Promise<Verdict> {
      const parent = ctx.platform?.pid;
      const temporal = ctx.temporalPid;
      if (parent === undefined || temporal === undefined || !alive(temporal))
        return inconclusive('no platform or Temporal server child found');
      process.kill(parent, 'SIGKILL');
      await sleep(3_000);
      const orphan = alive(temporal);
      // Start again with the orphan still there: it must say so (or the orphan must be gone).
      ctx.platform = undefined;
      ctx.temporalPid = undefined;
      let said: boolean;
      try {
        await ctx.startPlatform();
        said = /adopt|already running|not ours|in use/i.test(ctx.platformOutput);
      } catch {
        said = true; // refusing to start next to a foreign server is fine
      } finally {
        if (alive(temporal)) process.kill(temporal, 'SIGKILL');
      }
      if (orphan && !said)
        return defect('the Temporal server outlived a kill -9 of fixpay dev and the next start adopted it silently');
      return refused(orphan ? 'orphan left, but the next start said so' : 'no orphan left');
    },
  },
];
