-- Service definitions (docs/definitions.md): compiled plans are immutable; only status changes.
CREATE TYPE "service_definition_status" AS ENUM ('draft', 'active', 'retired');

CREATE TABLE "service_definition" (
    "id" UUID NOT NULL,
    "service_id" VARCHAR(63) NOT NULL,
    "version" VARCHAR(32) NOT NULL,
    "plan_hash" VARCHAR(71) NOT NULL,
    "plan" JSONB NOT NULL,
    "status" "service_definition_status" NOT NULL,
    "author" VARCHAR(120) NOT NULL,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "service_definition_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "service_definition_service_id_version_key" ON "service_definition"("service_id", "version");
CREATE INDEX "service_definition_plan_hash_idx" ON "service_definition"("plan_hash");

-- A version's content never changes once deployed: refuse updates of anything but the status.
CREATE FUNCTION "service_definition_immutable"() RETURNS trigger AS $$
BEGIN
    IF NEW."id" IS DISTINCT FROM OLD."id" OR NEW."service_id" IS DISTINCT FROM OLD."service_id"
        OR NEW."version" IS DISTINCT FROM OLD."version" OR NEW."plan_hash" IS DISTINCT FROM OLD."plan_hash"
        OR NEW."plan" IS DISTINCT FROM OLD."plan" OR NEW."author" IS DISTINCT FROM OLD."author" THEN
        RAISE EXCEPTION 'service_definition rows are immutable except status';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER "service_definition_immutable" BEFORE UPDATE ON "service_definition"
    FOR EACH ROW EXECUTE FUNCTION "service_definition_immutable"();

CREATE TABLE "service_alias" (
    "service_id" VARCHAR(63) NOT NULL,
    "alias" VARCHAR(32) NOT NULL,
    "targets" JSONB NOT NULL,
    "updated_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "service_alias_pkey" PRIMARY KEY ("service_id", "alias")
);
