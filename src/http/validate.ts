import type { ValidationTargets } from "hono";
import { validator } from "hono-openapi";
import type { z } from "zod";
import { describeIssues } from "../protocol/schemas";
import { badRequest } from "./errors";

/**
 * Validates one part of a request with a zod schema; a failure becomes the contract's 400
 * `bad_request` body. hono-openapi's validator (zod's Standard Schema interface, like zValidator's
 * parse) also records the schema on the route, which is how the OpenAPI document knows every body,
 * query and path parameter the routes accept.
 */
export function validate<T extends z.ZodType, Target extends keyof ValidationTargets>(target: Target, schema: T) {
  return validator(target, schema, (result) => {
    if (!result.success) {
      // Standard Schema paths may hold `{ key }` segments; zod's hold the keys themselves.
      const issues = result.error.map((issue) => ({ message: issue.message, path: (issue.path ?? []).map((p) => (typeof p === "object" ? p.key : p)) }));
      throw badRequest(`invalid ${target}: ${describeIssues({ issues })}`);
    }
  });
}
