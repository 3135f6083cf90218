import { zValidator } from "@hono/zod-validator";
import type { ValidationTargets } from "hono";
import type { z } from "zod";
import { describeIssues } from "../protocol/schemas";
import { badRequest } from "./errors";

/** `zValidator` whose failures become the contract's 400 `bad_request` body. */
export function validate<T extends z.ZodType, Target extends keyof ValidationTargets>(target: Target, schema: T) {
  return zValidator(target, schema, (result) => {
    if (!result.success) throw badRequest(`invalid ${target}: ${describeIssues(result.error)}`);
  });
}
