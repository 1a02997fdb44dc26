-- The double-entry ledger (TigerBeetle's model; docs/ledger.md). ledger/store.ts applies each batch
-- in one transaction with the accounts locked (SELECT ... FOR UPDATE); these constraints are the
-- last line of defence behind ledger/post.ts.
CREATE TYPE "ledger_pending_status" AS ENUM ('pending', 'posted', 'voided', 'expired');

CREATE TABLE "ledger_account" (
    "id" UUID NOT NULL,
    "reference" VARCHAR(128),
    "ledger" INTEGER NOT NULL,
    "code" INTEGER NOT NULL,
    "currency" CHAR(3) NOT NULL,
    "debits_must_not_exceed_credits" BOOLEAN NOT NULL,
    "credits_must_not_exceed_debits" BOOLEAN NOT NULL,
    "debits_pending" BIGINT NOT NULL,
    "debits_posted" BIGINT NOT NULL,
    "credits_pending" BIGINT NOT NULL,
    "credits_posted" BIGINT NOT NULL,
    "user_data_128" UUID,
    "user_data_64" BIGINT,
    "user_data_32" INTEGER,
    "created_at" TIMESTAMPTZ(6) NOT NULL,
    CONSTRAINT "ledger_account_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "ledger_account_id_reserved" CHECK ("id" <> '00000000-0000-0000-0000-000000000000' AND "id" <> 'ffffffff-ffff-ffff-ffff-ffffffffffff'),
    CONSTRAINT "ledger_account_ledger_code" CHECK ("ledger" > 0 AND "code" BETWEEN 1 AND 65535),
    CONSTRAINT "ledger_account_currency" CHECK ("currency" ~ '^[A-Z]{3}$'),
    CONSTRAINT "ledger_account_balances_non_negative" CHECK ("debits_pending" >= 0 AND "debits_posted" >= 0 AND "credits_pending" >= 0 AND "credits_posted" >= 0),
    CONSTRAINT "ledger_account_flags_exclusive" CHECK (NOT ("debits_must_not_exceed_credits" AND "credits_must_not_exceed_debits")),
    CONSTRAINT "ledger_account_debits_limit" CHECK (NOT "debits_must_not_exceed_credits" OR "debits_pending" + "debits_posted" <= "credits_posted"),
    CONSTRAINT "ledger_account_credits_limit" CHECK (NOT "credits_must_not_exceed_debits" OR "credits_pending" + "credits_posted" <= "debits_posted")
);
CREATE UNIQUE INDEX "ledger_account_reference_key" ON "ledger_account"("reference");
CREATE INDEX "ledger_account_ledger_code_idx" ON "ledger_account"("ledger", "code");

CREATE TABLE "ledger_transfer" (
    "id" UUID NOT NULL,
    "debit_account_id" UUID NOT NULL,
    "credit_account_id" UUID NOT NULL,
    "amount" BIGINT NOT NULL,
    "pending_id" UUID,
    "user_data_128" UUID,
    "user_data_64" BIGINT,
    "user_data_32" INTEGER,
    "timeout_seconds" INTEGER NOT NULL,
    "ledger" INTEGER NOT NULL,
    "code" INTEGER NOT NULL,
    "linked" BOOLEAN NOT NULL,
    "pending" BOOLEAN NOT NULL,
    "post_pending_transfer" BOOLEAN NOT NULL,
    "void_pending_transfer" BOOLEAN NOT NULL,
    "pending_status" "ledger_pending_status",
    "expires_at" TIMESTAMPTZ(6),
    "created_at" TIMESTAMPTZ(6) NOT NULL,
    CONSTRAINT "ledger_transfer_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "ledger_transfer_debit_account_id_fkey" FOREIGN KEY ("debit_account_id") REFERENCES "ledger_account"("id") ON DELETE RESTRICT ON UPDATE RESTRICT,
    CONSTRAINT "ledger_transfer_credit_account_id_fkey" FOREIGN KEY ("credit_account_id") REFERENCES "ledger_account"("id") ON DELETE RESTRICT ON UPDATE RESTRICT,
    CONSTRAINT "ledger_transfer_amount_non_negative" CHECK ("amount" >= 0),
    CONSTRAINT "ledger_transfer_timeout_non_negative" CHECK ("timeout_seconds" >= 0),
    CONSTRAINT "ledger_transfer_flags_exclusive" CHECK ("pending"::int + "post_pending_transfer"::int + "void_pending_transfer"::int <= 1),
    -- Only a pending transfer has a status, and it always has one.
    CONSTRAINT "ledger_transfer_status_only_pending" CHECK ("pending" = ("pending_status" IS NOT NULL)),
    -- Only a post or void names a pending transfer.
    CONSTRAINT "ledger_transfer_pending_id" CHECK (("post_pending_transfer" OR "void_pending_transfer") = ("pending_id" IS NOT NULL)),
    CONSTRAINT "ledger_transfer_timeout_only_pending" CHECK ("pending" OR ("timeout_seconds" = 0 AND "expires_at" IS NULL))
);
CREATE INDEX "ledger_transfer_debit_account_id_created_at_idx" ON "ledger_transfer"("debit_account_id", "created_at");
CREATE INDEX "ledger_transfer_credit_account_id_created_at_idx" ON "ledger_transfer"("credit_account_id", "created_at");
CREATE INDEX "ledger_transfer_pending_id_idx" ON "ledger_transfer"("pending_id");
CREATE INDEX "ledger_transfer_pending_status_expires_at_idx" ON "ledger_transfer"("pending_status", "expires_at");
-- A pending transfer is resolved (posted or voided) at most once, whatever the application does.
CREATE UNIQUE INDEX "ledger_transfer_resolves_once" ON "ledger_transfer"("pending_id") WHERE "pending_id" IS NOT NULL;

-- Transfers are immutable: only a pending transfer's status may move on, once, from 'pending'.
CREATE FUNCTION "ledger_transfer_immutable"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'ledger_transfer is immutable: delete refused';
  END IF;
  IF (to_jsonb(NEW) - 'pending_status') IS DISTINCT FROM (to_jsonb(OLD) - 'pending_status') THEN
    RAISE EXCEPTION 'ledger_transfer is immutable: only pending_status may change';
  END IF;
  IF NEW.pending_status IS DISTINCT FROM OLD.pending_status AND OLD.pending_status <> 'pending' THEN
    RAISE EXCEPTION 'ledger_transfer: a resolved pending transfer cannot change status';
  END IF;
  RETURN NEW;
END;
$$;
CREATE TRIGGER "ledger_transfer_immutable" BEFORE UPDATE OR DELETE ON "ledger_transfer"
  FOR EACH ROW EXECUTE FUNCTION "ledger_transfer_immutable"();
