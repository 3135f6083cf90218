// Types of scripts/local-secrets.mjs for vitest.config.ts.
export declare const LOCAL_SECRETS_FILE: string;
export declare function vapidKeyPair(): { VAPID_PUBLIC_KEY: string; VAPID_PRIVATE_KEY: string };
export declare function localSecrets(dir?: string): { VAPID_PUBLIC_KEY: string; VAPID_PRIVATE_KEY: string; VAPID_SUBJECT: string; [name: string]: string };
