-- The prepaid card programme (docs/cards.md, ADR 0026). CHECKs keep clear card data out even
-- if a bug tried to write it: the number only as a 64-hex keyed hash and BIN + asterisks + last
-- four; the PIN only as a reference under the LMK (`P` + 32 hex).
CREATE TABLE "prepaid_card" (
    "id" UUID NOT NULL,
    "batch_id" UUID NOT NULL,
    "bin" VARCHAR(11) NOT NULL CHECK ("bin" ~ '^[0-9]{6,11}$'),
    "pan_token" CHAR(64) NOT NULL CHECK ("pan_token" ~ '^[0-9a-f]{64}$'),
    "pan_masked" VARCHAR(19) NOT NULL CHECK ("pan_masked" ~ '^[0-9]{6}[*]{2,9}[0-9]{4}$'),
    "state" VARCHAR(16) NOT NULL CHECK ("state" IN ('issued', 'active', 'blocked', 'replaced')),
    "expiry" CHAR(4) NOT NULL CHECK ("expiry" ~ '^[0-9]{2}(0[1-9]|1[0-2])$'),
    "service_code" CHAR(3) NOT NULL CHECK ("service_code" ~ '^[0-9]{3}$'),
    "pin_reference" VARCHAR(64) NOT NULL CHECK ("pin_reference" ~ '^P[0-9A-F]{32}$'),
    "account_ref" VARCHAR(64) NOT NULL,
    "replaces" UUID,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "prepaid_card_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "prepaid_card_pan_token_key" ON "prepaid_card"("pan_token");
CREATE INDEX "prepaid_card_batch_id_idx" ON "prepaid_card"("batch_id");
