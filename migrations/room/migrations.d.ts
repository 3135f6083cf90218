// Types for the drizzle-kit generated bundle beside this file (migrations.js), which wrangler
// bundles with the .sql files as text (the `[[rules]]` in wrangler.toml).
declare const migrations: {
  journal: { entries: { idx: number; when: number; tag: string; breakpoints: boolean }[] };
  migrations: Record<string, string>;
};
export default migrations;
