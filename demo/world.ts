/**
 * The demo room (`fixpay dev`, the three-process test): everything a real deployment gets from
 * elsewhere — the demo customers, terminals and bindings in the database, the published test keys
 * in the HSM and the key directory, and the bank simulator as the card network. Production roles
 * (`fixpay worker`, `fixpay access-node`, `fixpay api`) import nothing from here (lint-enforced).
 */
import { CoreRepository } from '../core/repository';
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

export interface DemoWorld {
  /** The bank simulator's ISO 8583 port, when this room runs it (`cardNetwork.simulator`). */
  readonly bankPort: number | undefined;
  readonly bank: Bank | undefined;
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
}): Promise<DemoWorld> {
  const { config, prisma } = deps;
  const demo = deps.demo ?? DEMO;
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
    ),
  );
  const cn = config.cardNetwork;
  if (!cn.simulator && deps.bankPort === undefined)
    return { bankPort: undefined, bank: undefined, stop: async () => {} };
  const bank = new Bank({ zpk: Buffer.from(SIM_ZPK_HEX, 'hex'), accounts: defaultAccounts() });
  const server = new BankServer(bank, {
    zak: Buffer.from(SIM_ZAK_HEX, 'hex'),
    host: cn.host,
    port: deps.bankPort ?? cn.port,
  });
  const bankPort = (await server.listen()).port;
  deps.log.info({ bankPort }, 'bank simulator listening');
  return { bankPort, bank, stop: () => server.close() };
}
