/**
 * The demo partner of `fixpay dev`: a water company with a sandbox key and two open bills, made
 * through PartnerService like any partner (no raw rows). On every start its sandbox key is rotated
 * with no overlap, so the fresh key can be printed once on the console — keys are stored hashed and
 * cannot be shown again.
 */
import type { PrismaClient } from '../generated/prisma/client';
import { ALL_SCOPES } from '../partners/keys';
import type { PartnerService, Principal } from '../partners/service';

export const DEMO_PARTNER_EMAIL = 'demo-partner@fixpay.invalid';

export interface DemoPartner {
  readonly partnerId: string;
  /** A sandbox key of the demo partner, valid from now on; print it, never log it. */
  readonly sandboxKey: string;
}

export async function prepareDemoPartner(service: PartnerService, prisma: PrismaClient): Promise<DemoPartner> {
  const existing = await prisma.partner.findFirst({ where: { email: DEMO_PARTNER_EMAIL }, select: { id: true } });
  if (existing === null) {
    const { partner, key } = await service.signUp({ name: 'Demo Water Co', email: DEMO_PARTNER_EMAIL }, 'fixpay-dev');
    const principal = await service.authenticate(key.secret);
    if (principal === undefined) throw new Error('the demo partner key does not authenticate');
    // Digits, so that a demo phone can key them (Bills → Partner bill, ADR 0027).
    for (const [customerRef, minor, description] of [
      ['20000001', 4_250, 'Water, November'],
      ['20000002', 12_800, 'Water, October and November'],
    ] as const)
      await service.createBill(principal, { customerRef, amount: { minor, currency: 'CNY' }, description });
    return { partnerId: partner.id, sandboxKey: key.secret };
  }
  // A fresh key: the stored ones are hashes. The old sandbox keys stop working now.
  const keys = await prisma.partnerApiKey.findMany({
    where: { partnerId: existing.id, mode: 'test', revokedAt: null, rotatedTo: null },
    select: { id: true },
  });
  const operator: Principal = {
    partnerId: existing.id,
    keyId: '',
    mode: 'test',
    scopes: new Set(ALL_SCOPES),
    actor: 'fixpay-dev',
  };
  let fresh: string | undefined;
  for (const k of keys) fresh = (await service.rotateKey(operator, k.id, 0)).secret;
  fresh ??= (await service.createKey(operator, { mode: 'test', scopes: ALL_SCOPES })).secret;
  return { partnerId: existing.id, sandboxKey: fresh };
}
