/**
 * The phones of `bench:e2e`'s paced-lines section, in a worker thread of their own so their modem
 * CPU (FSK in and out, in real time) can be told apart from the platform's: each phone dials over
 * TCP PCM with paced audio, signs on in its first call, then makes calls of a few purchases each,
 * hanging up between calls, until told to stop. Loaded by `bench/e2e-paced.ts` through tsx (the
 * worker inherits the main thread's loader flags).
 *
 * In: `workerData` ({@link PhonesData}); messages `{ type: 'cpu' }` (answered with this thread's
 * CPU ms) and `{ type: 'stop' }` (each phone ends its current call, then `done` is posted).
 * Out: `{ type: 'purchase', outcome }` per purchase, `{ type: 'error', text }` per failed call.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { MemoryStateStore } from '../simulator/terminal/config';
import type { TerminalConfig } from '../simulator/terminal/config';
import { PosTerminal } from '../simulator/terminal/terminal';
import { loadProfiles } from '../channel-engine/profiles';

export interface PhonesData {
  readonly phones: readonly { readonly config: TerminalConfig; readonly stanBase: number }[];
  readonly purchasesPerCall: number;
  readonly amountMinor: number;
}

export type PhonesIn = { type: 'cpu' } | { type: 'stop' };
export type PhonesOut =
  | { type: 'purchase'; outcome: string }
  | { type: 'error'; text: string }
  | { type: 'cpu'; ms: number }
  | { type: 'done' };

/** Pause after a call that threw before dialling again (a refused or broken line). */
const RETRY_PAUSE_MS = 500;

/** The built-in device profiles, read once for every phone. */
const profiles = loadProfiles();

function post(m: PhonesOut): void {
  parentPort?.postMessage(m);
}

async function phone(config: TerminalConfig, stanBase: number, data: PhonesData, stopped: () => boolean) {
  const stateStore = new MemoryStateStore({ stan: stanBase, batch: '000001', psamCounter: stanBase });
  let signedOn = false;
  while (!stopped()) {
    // One call: sign-on in the first, then a few purchases, each reported as it ends; hang up.
    const terminal = new PosTerminal(config, { stateStore, profiles });
    try {
      if (!signedOn) signedOn = (await terminal.signOn()).outcome === 'approved';
      for (let i = 0; i < data.purchasesPerCall && signedOn; i++)
        post({ type: 'purchase', outcome: (await terminal.purchase(data.amountMinor)).outcome });
    } catch (e) {
      post({ type: 'error', text: e instanceof Error ? e.message : String(e) });
      await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
    } finally {
      await terminal.hangUp().catch(() => undefined);
    }
  }
}

function main(): void {
  const data = workerData as PhonesData;
  let stop = false;
  parentPort?.on('message', (m: PhonesIn) => {
    if (m.type === 'cpu') {
      const c = process.threadCpuUsage();
      post({ type: 'cpu', ms: (c.user + c.system) / 1000 });
    } else stop = true;
  });
  void Promise.all(data.phones.map((p) => phone(p.config, p.stanBase, data, () => stop))).then(() => {
    post({ type: 'done' });
    parentPort?.close();
  });
}

main();
