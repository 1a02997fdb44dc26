/**
 * The demo room (`fixpay dev`, the three-process test): everything a real deployment gets from
 * elsewhere — the demo customers, terminals and bindings in the database, the published test keys
 * in the HSM and the key directory, and the bank simulator as the card network. Production roles
 * (`fixpay worker`, `fixpay access-node`, `fixpay api`) import nothing from here (lint-enforced).
 */
import { chmodSync, cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreRepository } from '../core/repository';
import { startDemoAggregators } from '../simulator/providers/demo';
import { startDemoTicketing } from '../simulator/providers/tickets-demo';
import { PROVIDERS_DIR } from '../worker/platform-activities';
import type { Config } from '../config';
import { SoftwareHsm } from '../hsm/software/software-hsm';
import { PrismaTerminalKeyStore } from '../hsm/prisma-terminal-key-store';
import type { PrismaClient } from '../infra/database';
import type { Logger } from '../infra/logging';
import { PrismaLedgerStore } from '../ledger/store';
import { defaultAccounts, SIM_ZAK_HEX, SIM_ZPK_HEX } from '../simulator/bank/accounts';
import { Bank } from '../simulator/bank/bank';
import { BankServer } from '../simulator/bank/server';
import { EXAMPLE_CONFIG } from '../simulator/terminal/config';
import { keyDirectoryPath, writeKeyDirectory } from '../worker/key-directory';
import { demoKeyDirectory, provisionDemoKeys } from './keys';
import { DEMO, seedDemo } from './seed';
import type { DemoData } from './seed';

/**
 * Copies the repository's provider documents into `to` (files already there and not shipped, such as
 * a biller an operator added, stay), with the sandbox profiles' endpoints set to the running simulators.
 */
export function writeDemoProviders(from: string, to: string, urls: { biller: string; topup: string }): void {
  cpSync(from, to, { recursive: true });
  ownerOnly(to);
  for (const [file, url] of [
    ['bills-sandbox.yaml', urls.biller],
    ['topup-sandbox.yaml', urls.topup],
  ] as const) {
    const path = join(to, file);
    writeFileSync(path, readFileSync(path, 'utf8').replace(/endpoint: .*/, `endpoint: ${url}`));
  }
}

/**
 * The data folder is the owner's alone (its secrets, keys and database live there): copied provider
 * documents keep the repository's 0644 otherwise, and `fixpay doctor` and the attack suite flag it.
 */
function ownerOnly(dir: string): void {
  chmodSync(dir, 0o700);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) ownerOnly(path);
    else if (entry.isFile()) chmodSync(path, 0o600);
  }
}

export interface DemoWorld {
  /** The bank simulator's ISO 8583 port, when this room runs it (`cardNetwork.simulator`). */
  readonly bankPort: number | undefined;
  readonly bank: Bank | undefined;
  /** The demo provider directory (`<dataDir>/providers`), pointed at the demo aggregators this room runs. */
  readonly providersDir: string;
  stop(): Promise<void>;
}

/**
 * Seeds the demo data, loads the demo keys (under `lmkHex`) and writes the key directory into the
 * data folder, and starts the bank simulator when the config asks for it. Idempotent over restarts.
 */
export async function prepareDemoWorld(deps: {
  config: Config;
  prisma: PrismaClient;
  lmkHex: string;
  log: Logger;
  demo?: DemoData;
  /** Starts the bank simulator even when the config does not ask for it (tests), on this port. */
  bankPort?: number;
  /**
   * Seeds the demo customers and terminals here, in-process (true by default). `fixpay dev` says
   * false and seeds them through lifecycle runs once its worker is up.
   */
  seed?: boolean;
}): Promise<DemoWorld> {
  const { config, prisma } = deps;
  const demo = deps.demo ?? DEMO;
  if (deps.seed !== false)
    await seedDemo({ core: new CoreRepository(prisma), ledger: new PrismaLedgerStore(prisma) }, demo);
  const hsm = new SoftwareHsm({ lmk: Buffer.from(deps.lmkHex, 'hex') });
  const keys = await provisionDemoKeys(
    hsm,
    {
      psamMasterKeyHex: EXAMPLE_CONFIG.psam.masterKey,
      zpkHex: SIM_ZPK_HEX,
      zakHex: SIM_ZAK_HEX,
      tmks: Object.fromEntries(demo.terminals.map((t) => [t.terminalId, EXAMPLE_CONFIG.keys.tmk])),
    },
    new PrismaTerminalKeyStore(prisma),
  );
  writeKeyDirectory(
    keyDirectoryPath(config),
    demoKeyDirectory(
      demo.terminals.map((t) => t.psamNo),
      keys.psamMasterKey,
      keys.zpk,
      keys.zak,
      keys.cards,
    ),
  );
  // The demo bill and top-up aggregators (ADR 0019), and a provider directory pointing at them.
  const providersDir = join(config.dataDir, 'providers');
  const aggregators = await startDemoAggregators(PROVIDERS_DIR);
  writeDemoProviders(PROVIDERS_DIR, providersDir, { biller: aggregators.billerUrl, topup: aggregators.topupUrl });
  deps.log.info({ biller: aggregators.billerUrl, topup: aggregators.topupUrl }, 'demo aggregators listening');
  // The demo ticketing provider (ADR 0023): the airline, the cinema's shows, the lottery's draws.
  const ticketing = await startDemoTicketing(PROVIDERS_DIR);
  const ticketProfile = join(providersDir, 'tickets-sandbox.yaml');
  writeFileSync(
    ticketProfile,
    readFileSync(ticketProfile, 'utf8').replace(/endpoint: .*/, `endpoint: ${ticketing.url}`),
  );
  deps.log.info({ tickets: ticketing.url }, 'demo ticketing provider listening');
  const stopProviders = async (): Promise<void> => {
    await aggregators.stop();
    await ticketing.stop();
  };
  const cn = config.cardNetwork;
  if (!cn.simulator && deps.bankPort === undefined)
    return { bankPort: undefined, bank: undefined, providersDir, stop: stopProviders };
  const bank = new Bank({ zpk: Buffer.from(SIM_ZPK_HEX, 'hex'), accounts: defaultAccounts() });
  const server = new BankServer(bank, {
    zak: Buffer.from(SIM_ZAK_HEX, 'hex'),
    host: cn.host,
    port: deps.bankPort ?? cn.port,
  });
  const bankPort = (await server.listen()).port;
  deps.log.info({ bankPort }, 'bank simulator listening');
  return {
    bankPort,
    bank,
    providersDir,
    stop: async () => {
      await server.close();
      await stopProviders();
    },
  };
}
