/**
 * The last PSAM counter accepted, in the database (`psam_counter`,
 * prisma/schema/terminal-keys.prisma), shared by every worker and kept across restarts. `advance` is
 * one conditional upsert: PostgreSQL locks the row and re-checks the condition on its latest
 * version, so of two workers racing with the same counter exactly one is accepted.
 */
import type { PrismaClient } from '../generated/prisma/client';
import type { PsamCounterStore } from './hsm';

export class PrismaPsamCounterStore implements PsamCounterStore {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async get(psamSerial: string): Promise<{ counter: number; key: string } | undefined> {
    const row = await this.prisma.psamCounter.findUnique({ where: { psamSerial } });
    return row === null ? undefined : { counter: Number(row.counter), key: row.requestKey };
  }

  /** Above the stored counter, or equal under the same request key (its own retry): accepted. */
  async advance(psamSerial: string, counter: number, key: string): Promise<boolean> {
    if (!Number.isSafeInteger(counter) || counter < 0) return false;
    const rows = await this.prisma.$queryRaw<{ psam_serial: string }[]>`
      INSERT INTO "psam_counter" ("psam_serial", "counter", "request_key", "updated_at")
      VALUES (${psamSerial}, ${BigInt(counter)}, ${key}, ${this.now()})
      ON CONFLICT ("psam_serial") DO UPDATE
        SET "counter" = EXCLUDED."counter", "request_key" = EXCLUDED."request_key", "updated_at" = EXCLUDED."updated_at"
        WHERE "psam_counter"."counter" < EXCLUDED."counter"
           OR ("psam_counter"."counter" = EXCLUDED."counter" AND "psam_counter"."request_key" = EXCLUDED."request_key")
      RETURNING "psam_serial"`;
    return rows.length === 1;
  }
}
