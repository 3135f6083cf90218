/**
 * What a reply shows of its original (`replyTo.excerpt` on the wire): the server builds it from
 * the stored message, the web app from the one shown while the ack is on its way; one rule for both,
 * so a pending reply reads as the stored one will.
 */
import { limits } from "./limits";

/** The first `limits.replyExcerptMax` characters (code points: an emoji is never cut in half). */
export const excerptOf = (content: string): string => [...content].slice(0, limits.replyExcerptMax).join("");
