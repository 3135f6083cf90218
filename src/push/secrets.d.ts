// The push secrets (README, "Deploy"), which `wrangler types` cannot see: they live in no committed
// file (locally in the ignored .dev.vars.local). Optional: without them push is off (src/push/config.ts).
interface PushSecretBindings {
  VAPID_PUBLIC_KEY?: string;
  VAPID_PRIVATE_KEY?: string;
  VAPID_SUBJECT?: string;
}
interface Env extends PushSecretBindings {}
declare namespace Cloudflare {
  interface Env extends PushSecretBindings {}
}
