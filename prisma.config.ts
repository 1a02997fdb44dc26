// Prisma CLI configuration. The schema is a folder (one file per concern); migrations are SQL
// files that fixpay applies itself (`fixpay db migrate`), recorded in _prisma_migrations the way
// `prisma migrate deploy` records them.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'prisma/schema',
  migrations: { path: 'prisma/migrations' },
});
