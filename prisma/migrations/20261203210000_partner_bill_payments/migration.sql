-- Partner bills paid from the phone (ADR 0027): the run that claimed a bill (its idempotency key),
-- so a retry of the claim is recognised and only the claiming run may reopen it.
ALTER TABLE "partner_bill" ADD COLUMN "paid_by" VARCHAR(200);
