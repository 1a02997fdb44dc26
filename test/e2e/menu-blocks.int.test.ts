/**
 * Multi-block menus (ADR 0018) end to end over real FSK audio (TCP PCM): a menu bigger than one
 * field 59 is not cut; the `0810` carries block 1 of 3 and says so (`DF03`/`DF04`), the phone asks
 * for blocks 2 and 3 (each a MACed menu request with its own STAN and PSAM counter) and holds every
 * entry; an entry of the last block runs; an unchanged menu is one exchange again.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultCatalogue } from '../../services/catalogue/entries';
import { compileFiles } from '../../services/compiler/load';
import { MemoryStateStore } from '../../simulator/terminal/config';
import { PosTerminal } from '../../simulator/terminal/terminal';
import { SERVICE_DATA_BYTES_MAX } from '../../terminal-protocol/spec';
import type { E2e } from './harness';
import { startE2e } from './harness';

const FIXTURE = join(__dirname, '__fixtures__', 'household-bill.yaml');
/** Services on the menu: with two inputs each, about 140 bytes an entry, three field 59s. */
const SERVICES = 16;
const code = (i: number): string => `household-b${String(i).padStart(2, '0')}`;

describe('a menu bigger than one field 59 is downloaded in blocks (FSK over TCP PCM)', () => {
  jest.setTimeout(300_000);
  let e2e: E2e;

  beforeAll(async () => {
    e2e = await startE2e();
    const dir = mkdtempSync(join(tmpdir(), 'fixpay-menu-blocks-'));
    const files = [join(__dirname, '..', '..', 'definitions', 'terminal-menu.yaml')];
    const text = readFileSync(FIXTURE, 'utf8');
    for (let i = 1; i <= SERVICES; i++) {
      const file = join(dir, `${code(i)}.yaml`);
      writeFileSync(
        file,
        text
          .replace('id: household-bill', `id: ${code(i)}`)
          .replace('menu: [Bills, Demo bill]', `menu: [Bills, Household bill ${String(i).padStart(2, '0')}]`)
          .replace('title: Demo bill\n', `title: Household bill ${String(i).padStart(2, '0')}\n`),
      );
      files.push(file);
    }
    for (const d of compileFiles(files, defaultCatalogue())) {
      if (d.plan === null || d.planHash === null) throw new Error(`${d.file} does not compile`);
      await e2e.registry.deploy(d.plan, d.planHash, 'e2e', randomUUID());
      await e2e.registry.promote(d.plan.serviceId, d.plan.version);
    }
  }, 300_000);
  afterAll(async () => {
    await e2e.stop();
  });

  it('downloads 3 blocks, holds every entry in order, runs an entry of the last block, and asks once when unchanged', async () => {
    // T0000002: Bell 202, menu memory 16 384 bytes, 128 entries.
    const t = new PosTerminal(e2e.terminal({ demoTerminal: 1 }), {
      stateStore: new MemoryStateStore({ stan: 3_000, batch: '000001', psamCounter: 3_000 }),
    });
    expect((await t.signOn()).outcome).toBe('approved');
    const started = e2e.workflowIds.length;
    const r = await t.downloadMenu();
    expect(r).toMatchObject({ outcome: 'approved', changed: true, blocks: 3 });
    expect(t.menu?.entries.map((e) => e.code)).toEqual(Array.from({ length: SERVICES }, (_, i) => code(i + 1)));
    // Three menu requests, each its own run (own STAN), each answer within one field 59.
    const runs = e2e.workflowIds.slice(started).filter((id) => id.startsWith('terminal-menu:'));
    expect(runs).toHaveLength(3);
    const outputs = await Promise.all(
      runs.map(
        (id) =>
          e2e.env.client.workflow.getHandle(id).result() as Promise<{
            output: { blocks: number; entries: number; response: string };
          }>,
      ),
    );
    for (const o of outputs) {
      expect(o.output).toMatchObject({ blocks: 3, entries: SERVICES });
      expect(o.output.response.length / 2).toBeLessThan(SERVICE_DATA_BYTES_MAX + 200);
    }
    const last = t.menu?.entries.at(-1);
    expect(last?.path).toEqual(['Bills', `Household bill ${SERVICES}`]);
    const s = await t.service(code(SERVICES), { customer: '12345678', amount: '150' }, [{ key: '1' }]);
    expect(s).toMatchObject({ outcome: 'approved', responseCode: '00' });
    // Unchanged: one request, the version only.
    const before = e2e.workflowIds.length;
    const again = await t.downloadMenu();
    expect(again).toMatchObject({ outcome: 'approved', changed: false, blocks: 1 });
    expect(e2e.workflowIds.slice(before).filter((id) => id.startsWith('terminal-menu:'))).toHaveLength(1);
    expect(t.menu?.entries).toHaveLength(SERVICES);
    await t.hangUp();
  });
});
