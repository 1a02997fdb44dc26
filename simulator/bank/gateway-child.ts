/**
 * A gateway in its own process, for the crash test in reversal-durable.int.test.ts: it connects to
 * the bank simulator and the database given on the command line, sends one purchase, prints
 * `{"sent":true}` and waits to be killed.
 * Usage: gateway-child.ts <bankPort> <databaseUrl> <schema> <requestJson>
 */
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../../generated/prisma/client';
import { PrismaRequestJournal, PrismaReversalQueue } from '../../gateways/card-network/prisma-store';
import type { CardholderRequest } from '../../gateways/card-network/transactions';
import { connectGateway } from './harness';

async function main(): Promise<void> {
  const [port, url, schema, requestJson] = process.argv.slice(2);
  if (port === undefined || url === undefined || schema === undefined || requestJson === undefined)
    throw new Error('usage: gateway-child <port> <url> <schema> <request>');
  const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: url, max: 2 }, { schema }) });
  const gateway = connectGateway(
    Number(port),
    { reversals: new PrismaReversalQueue(prisma), journal: new PrismaRequestJournal(prisma) },
    { requestTimeoutMs: 1500, reversalGraceMs: 200 },
  );
  const request: CardholderRequest = JSON.parse(requestJson) as CardholderRequest;
  while (!gateway.isSignedOn) await new Promise((r) => setTimeout(r, 10));
  const pending = gateway.authorize(request).catch(() => undefined);
  process.stdout.write('{"sent":true}\n');
  await pending;
}

void main().catch((e: unknown) => {
  process.stderr.write(`${String(e)}\n`);
  process.exit(1);
});
