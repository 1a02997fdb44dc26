/** The registry's storage on PostgreSQL through Prisma (tables service_definition, service_alias). */
import type { PrismaClient } from '../../generated/prisma/client';
import type { Plan } from '../runtime/plan';
import type { AliasTarget, DefinitionRecord, DefinitionStatus, DefinitionStore } from './registry';

function isTargets(v: unknown): v is AliasTarget[] {
  return (
    Array.isArray(v) &&
    v.every(
      (t: unknown) =>
        typeof t === 'object' &&
        t !== null &&
        typeof (t as { version?: unknown }).version === 'string' &&
        typeof (t as { weight?: unknown }).weight === 'number' &&
        ((t as { terminals?: unknown }).terminals === undefined ||
          (Array.isArray((t as { terminals?: unknown }).terminals) &&
            (t as { terminals: unknown[] }).terminals.every((x) => typeof x === 'string'))),
    )
  );
}

function isPlan(v: unknown): v is Plan {
  return typeof v === 'object' && v !== null && (v as { format?: unknown }).format === 'fixpay.plan/v1';
}

export class PrismaDefinitionStore implements DefinitionStore {
  constructor(private readonly prisma: PrismaClient) {}

  async insert(rec: DefinitionRecord): Promise<void> {
    await this.prisma.serviceDefinition.create({
      data: {
        id: rec.id,
        serviceId: rec.serviceId,
        version: rec.version,
        planHash: rec.planHash,
        plan: JSON.parse(JSON.stringify(rec.plan)) as object,
        status: rec.status,
        author: rec.author,
        createdAt: rec.createdAt,
      },
    });
  }

  private toRecord(row: {
    id: string;
    serviceId: string;
    version: string;
    planHash: string;
    plan: unknown;
    status: DefinitionStatus;
    author: string;
    createdAt: Date;
  }): DefinitionRecord {
    if (!isPlan(row.plan)) throw new Error(`stored plan ${row.serviceId}@${row.version} has an unknown format`);
    return { ...row, plan: row.plan };
  }

  async get(serviceId: string, version: string): Promise<DefinitionRecord | undefined> {
    const row = await this.prisma.serviceDefinition.findUnique({
      where: { serviceId_version: { serviceId, version } },
    });
    return row === null ? undefined : this.toRecord(row);
  }

  async list(serviceId?: string): Promise<DefinitionRecord[]> {
    const rows = await this.prisma.serviceDefinition.findMany({
      ...(serviceId === undefined ? {} : { where: { serviceId } }),
      orderBy: [{ serviceId: 'asc' }, { createdAt: 'asc' }],
    });
    return rows.map((r) => this.toRecord(r));
  }

  async setStatus(serviceId: string, version: string, status: DefinitionStatus): Promise<void> {
    await this.prisma.serviceDefinition.update({
      where: { serviceId_version: { serviceId, version } },
      data: { status },
    });
  }

  async getAlias(serviceId: string, alias: string): Promise<AliasTarget[] | undefined> {
    const row = await this.prisma.serviceAlias.findUnique({ where: { serviceId_alias: { serviceId, alias } } });
    if (row === null) return undefined;
    return isTargets(row.targets) ? row.targets : undefined;
  }

  async setAlias(serviceId: string, alias: string, targets: AliasTarget[] | null): Promise<void> {
    if (targets === null) {
      await this.prisma.serviceAlias.deleteMany({ where: { serviceId, alias } });
      return;
    }
    const json = targets.map((t) => ({
      version: t.version,
      weight: t.weight,
      ...(t.terminals === undefined ? {} : { terminals: t.terminals }),
    }));
    await this.prisma.serviceAlias.upsert({
      where: { serviceId_alias: { serviceId, alias } },
      create: { serviceId, alias, targets: json },
      update: { targets: json, updatedAt: new Date() },
    });
  }
}
